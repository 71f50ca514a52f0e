<?php

/**
 * @file
 * STAND-IN front controller: selects the site like Drupal, reads its
 * settings.php, and answers a small page from its database. Not Drupal.
 */

require_once __DIR__ . '/core/includes/standin.inc';

$root = __DIR__;

function standin_page(int $code, string $title, string $body): void {
  http_response_code($code);
  header('Content-Type: text/html; charset=UTF-8');
  header('X-Generator: Drupal 10 (STAND-IN)');
  $t = htmlspecialchars($title, ENT_QUOTES);
  print "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>$t</title>"
    . '<meta name="Generator" content="Drupal ' . htmlspecialchars(\Drupal::VERSION, ENT_QUOTES) . " (STAND-IN)\"></head>\n"
    . "<body>\n$body\n<footer>Powered by Drupal " . htmlspecialchars(\Drupal::VERSION, ENT_QUOTES) . " (STAND-IN)</footer>\n</body>\n</html>\n";
}

$host = (string) ($_SERVER['HTTP_HOST'] ?? ($_SERVER['SERVER_NAME'] ?? 'default'));
if (!preg_match('/^\[?(?:[a-zA-Z0-9-:\]_]+\.?)+$/', $host)) {
  standin_page(400, 'Bad Request', '<h1>Bad Request</h1><p>The provided host name is not valid for this server.</p>');
  return;
}
$script = (string) ($_SERVER['SCRIPT_NAME'] ?? '/index.php');
$site_path = \StandIn\find_site_path($root, $host, $script);
$path = (string) parse_url((string) ($_SERVER['REQUEST_URI'] ?? '/'), PHP_URL_PATH);

if (!is_file($root . '/' . $site_path . '/settings.php')) {
  standin_page(404, 'No site', '<h1>No site</h1><p>No site is configured for this host name.</p>');
  return;
}
$site = new \StandIn\Site($root, $site_path);
if ($site->dbInfo() === NULL) {
  standin_page(500, 'Site not installed', '<h1>Site not installed</h1><p>The site has no database settings.</p>');
  return;
}
try {
  $db = $site->db();
  if ($db === NULL) {
    throw new \RuntimeException((string) $site->dbError);
  }
  if (!$site->installed()) {
    standin_page(500, 'Site not installed', '<h1>Site not installed</h1>');
    return;
  }
  $siteConfig = $db->configGet('system.site') ?? [];
  $name = (string) ($siteConfig['name'] ?? '');
  $maintenance = $db->kvGet('state', 'system.maintenance_mode');
  if ($maintenance) {
    header('Retry-After: 60');
    standin_page(503, 'Site under maintenance', '<h1>Site under maintenance</h1><p>' . htmlspecialchars($name, ENT_QUOTES) . ' is currently under maintenance. We should be back shortly.</p>');
    return;
  }
  if (preg_match('#^/user/reset/(\d+)/(\d+)/([A-Za-z0-9_-]+)/login/?$#', $path, $m)) {
    [, $uid, $ts, $hash] = $m;
    $user = $db->q('SELECT * FROM users WHERE uid = ? AND status = 1', [(int) $uid])->fetch(\PDO::FETCH_ASSOC);
    $now = time();
    $ok = $user && (int) $uid > 0 && (int) $ts <= $now && $now - (int) $ts <= 86400
      && (int) $ts >= (int) $user['login']
      && hash_equals(\StandIn\user_pass_rehash($user, (int) $ts, (string) ($site->settings['hash_salt'] ?? '')), $hash);
    if (!$ok) {
      standin_page(403, 'Access denied', '<h1>Access denied</h1><p>You have tried to use a one-time login link that has either been used or is no longer valid.</p>');
      return;
    }
    $db->q('UPDATE users SET login = ?, access = ? WHERE uid = ?', [$now, $now, (int) $uid]);
    standin_page(200, 'Logged in', '<h1>logged in</h1><p>You have just used your one-time login link. User ' . htmlspecialchars((string) $user['name'], ENT_QUOTES) . ' is logged in.</p>');
    return;
  }
  $count = (int) $db->q('SELECT COUNT(*) FROM node')->fetchColumn();
  $titles = $db->q('SELECT title FROM node ORDER BY nid')->fetchAll(\PDO::FETCH_COLUMN);
  $list = '';
  foreach ($titles as $t) {
    $list .= '<li>' . htmlspecialchars((string) $t, ENT_QUOTES) . '</li>';
  }
  standin_page(200, $name, '<h1 id="site-name">' . htmlspecialchars($name, ENT_QUOTES) . '</h1>'
    . '<p>Drupal ' . htmlspecialchars(\Drupal::VERSION, ENT_QUOTES) . '</p>'
    . '<p>Content items: <span id="content-count">' . $count . "</span></p>\n<ul>$list</ul>");
}
catch (\Throwable $e) {
  standin_page(500, 'Error', '<h1>The website encountered an unexpected error.</h1><p>' . htmlspecialchars(get_class($e), ENT_QUOTES) . '</p>');
}

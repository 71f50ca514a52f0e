<?php

/**
 * @file
 * STAND-IN drush: the commands.
 */

declare(strict_types=1);

namespace StandInDrush;

use StandIn\Db;

final class Commands {

  private Application $app;
  private Output $io;
  private array $o;

  public function __construct(Application $app) {
    $this->app = $app;
    $this->io = $app->io;
    $this->o = $app->options;
  }

  private function bootstrapFailed(): int {
    $this->io->log('error', 'Bootstrap failed. Run your command with -vvv for more information.');
    return 1;
  }

  // ---------------------------------------------------------------------
  // core:status
  // ---------------------------------------------------------------------

  public const STATUS_LABELS = [
    'drupal-version' => 'Drupal version', 'uri' => 'Site URI', 'db-driver' => 'DB driver', 'db-hostname' => 'DB hostname',
    'db-port' => 'DB port', 'db-username' => 'DB username', 'db-password' => 'DB password', 'db-name' => 'DB name',
    'db-status' => 'Database', 'bootstrap' => 'Drupal bootstrap', 'theme' => 'Default theme', 'admin-theme' => 'Admin theme',
    'php-bin' => 'PHP binary', 'php-conf' => 'PHP config', 'php-os' => 'PHP OS', 'php-version' => 'PHP version',
    'drush-script' => 'Drush script', 'drush-version' => 'Drush version', 'drush-temp' => 'Drush temp',
    'drush-conf' => 'Drush configs', 'drush-alias-files' => 'Drush aliases', 'alias-searchpaths' => 'Alias search paths',
    'install-profile' => 'Install profile', 'root' => 'Drupal root', 'drupal-settings-file' => 'Drupal Settings',
    'site-path' => 'Site path', 'site' => 'Site path', 'themes' => 'Themes path', 'modules' => 'Modules path',
    'files' => 'Files, Public', 'private' => 'Files, Private', 'temp' => 'Files, Temp', 'config-sync' => 'Drupal config',
    'files-path' => 'Files, Public', 'temp-path' => 'Files, Temp', '%paths' => 'Other paths',
  ];

  public const STATUS_TABLE_DEFAULT = [
    'drupal-version', 'uri', 'db-driver', 'db-hostname', 'db-port', 'db-username', 'db-name', 'db-status', 'bootstrap',
    'theme', 'admin-theme', 'php-bin', 'php-conf', 'php-os', 'php-version', 'drush-script', 'drush-version', 'drush-temp',
    'drush-conf', 'install-profile', 'root', 'site', 'files', 'private', 'temp',
  ];

  public function status(): int {
    $site = $this->app->site();
    $root = $this->app->root;
    $d = ['drupal-version' => \Drupal::VERSION, 'uri' => $this->app->uri];
    $info = $site->dbInfo();
    $installed = $site->installed();
    if ($info !== NULL) {
      $d['db-driver'] = $info['driver'];
      if (!empty($info['host']) && empty($info['unix_socket'])) {
        $d['db-hostname'] = $info['host'];
      }
      $d['db-port'] = $info['port'] ?? NULL;
      $d['db-username'] = $info['username'] ?? NULL;
      $d['db-password'] = $info['password'] ?? NULL;
      $d['db-name'] = $info['database'] ?? NULL;
    }
    $theme = $admin = $profile = NULL;
    if ($installed) {
      $d['db-status'] = 'Connected';
      $d['bootstrap'] = 'Successful';
      $t = $site->db()->configGet('system.theme') ?? [];
      $d['theme'] = $t['default'] ?? NULL;
      $d['admin-theme'] = $t['admin'] ?? 'seven';
      $profile = $site->db()->configGet('core.extension')['profile'] ?? NULL;
    }
    $d['php-bin'] = PHP_BINARY;
    $ini = php_ini_loaded_file();
    if ($ini !== FALSE) {
      $d['php-conf'] = [$ini];
    }
    $d['php-os'] = PHP_OS;
    $d['php-version'] = PHP_VERSION;
    $d['drush-script'] = $this->app->projectRoot . '/vendor/bin/drush.php';
    $d['drush-version'] = Application::VERSION;
    $d['drush-temp'] = sys_get_temp_dir();
    $d['drush-conf'] = [$this->app->drushDir . '/drush.yml'];
    $search = [];
    foreach ([$this->app->projectRoot . '/drush/sites', $root . '/drush/sites'] as $p) {
      if (is_dir($p) && !in_array($p, $search, TRUE)) {
        $search[] = $p;
      }
    }
    $aliasFiles = [];
    foreach ($search as $p) {
      $aliasFiles = array_merge($aliasFiles, glob($p . '/*.site.yml') ?: []);
    }
    sort($aliasFiles);
    $d['drush-alias-files'] = $aliasFiles;
    $d['alias-searchpaths'] = $search;
    if ($installed && $profile !== NULL) {
      $d['install-profile'] = $profile;
    }
    $d['root'] = $root;
    $sp = $site->sitePath;
    $d['drupal-settings-file'] = is_file($root . '/' . $sp . '/settings.php') ? $sp . '/settings.php' : '';
    $d['site'] = $sp;
    $d['themes'] = is_dir($root . '/' . $sp . '/themes') ? $sp . '/themes' : 'sites/all/themes';
    $d['modules'] = is_dir($root . '/' . $sp . '/modules') ? $sp . '/modules' : 'sites/all/modules';
    if ($installed) {
      $d['files'] = $site->publicFilesPath();
      if (!empty($site->settings['file_private_path'])) {
        $d['private'] = $site->settings['file_private_path'];
      }
      $d['temp'] = $site->tempPath();
    }
    $d['config-sync'] = $site->settings['config_sync_directory'] ?? NULL;
    $paths = [
      '%root' => $root, '%site' => $sp, '%modules' => $d['modules'], '%themes' => $d['themes'],
      '%config-sync' => $d['config-sync'], '%files' => $d['files'] ?? NULL, '%temp' => $d['temp'] ?? NULL,
      '%private' => $d['private'] ?? NULL,
    ];
    $d['%paths'] = array_filter($paths, fn($v) => $v !== NULL && $v !== '');
    $labels = self::STATUS_LABELS;
    unset($labels['site-path'], $labels['files-path'], $labels['temp-path']);
    $this->io->out(Output::formatProperties($d, $labels, $this->o, self::STATUS_TABLE_DEFAULT));
    return 0;
  }

  // ---------------------------------------------------------------------
  // site:install
  // ---------------------------------------------------------------------

  public function siteInstall(): int {
    require_once $this->app->root . '/core/includes/install.core.inc';
    $root = $this->app->root;
    $profile = $this->app->args['recipeOrProfile'] ?? NULL;
    $profiles = \StandIn\install_profiles($root);
    if ($profile === NULL || $profile === '') {
      $profile = 'standard';
    }
    if (!isset($profiles[$profile])) {
      if (is_dir($profile) || is_dir($root . '/' . $profile)) {
        throw new \RuntimeException('Recipes are not supported by the stand-in.');
      }
      throw new \RuntimeException("The profile $profile does not exist.");
    }
    // Target directory (drush 13 SiteInstallCommands::getSitesSubdirFromUri()).
    $subdir = $this->o['sites-subdir'] ?? NULL;
    if ($subdir !== NULL) {
      $lower = strtolower($subdir);
      if ($lower !== $subdir) {
        $this->io->log('warning', "Sites subdirectory $subdir contains upper case letters. Converting to lower case.");
        $subdir = $lower;
      }
    }
    else {
      $raw = (string) ($this->o['uri'] ?? '');
      $simple = preg_replace('#^[a-z]+://#i', '', $raw);
      if ($raw !== '' && preg_match('/^[a-z0-9_-]+$/', $raw)) {
        $subdir = $raw;
      }
      else {
        $sites = [];
        if (is_file($root . '/sites/sites.php')) {
          include $root . '/sites/sites.php';
        }
        if ($raw !== '' && isset($sites[$raw])) {
          $subdir = $sites[$raw];
        }
        elseif (is_dir($root . '/sites/default')) {
          $subdir = 'default';
        }
        else {
          throw new \RuntimeException('Could not determine target sites directory for site to install. Use --sites-subdir to specify.');
        }
      }
      unset($simple);
    }
    $sitePath = 'sites/' . $subdir;
    $siteDir = $root . '/' . $sitePath;
    $settingsFile = $siteDir . '/settings.php';
    [$databases, $settings] = \StandIn\load_settings($root, $sitePath);
    $urlInfo = NULL;
    if (!empty($this->o['db-url'])) {
      $urlInfo = \StandIn\db_url_to_info((string) $this->o['db-url'], $root);
      if (!empty($this->o['db-prefix'])) {
        $urlInfo['prefix'] = $this->o['db-prefix'];
      }
    }
    $complete = \StandIn\settings_complete($root, $databases, $settings);
    $dbInfo = $complete ? $databases['default']['default'] : ($urlInfo ?? ($databases['default']['default'] ?? NULL));
    if (!is_array($dbInfo) || empty($dbInfo['driver'])) {
      throw new \RuntimeException('Could not determine database connection parameters. Pass --db-url option.');
    }
    $locale = (string) $this->o['locale'];
    if (!preg_match('/^[a-z]{2,3}(-[a-z0-9]+)?$/i', $locale)) {
      throw new \RuntimeException("Invalid --locale value '$locale'.");
    }
    // Pre-flight: tell what will happen.
    $msg = [];
    if (!is_file($settingsFile)) {
      $msg[] = "Create a $sitePath/settings.php file";
    }
    if ($subdir !== 'default' && !is_file($root . '/sites/sites.php')) {
      $msg[] = 'Create a sites/sites.php file';
    }
    $dbName = (string) $dbInfo['database'];
    if (\StandIn\Db::databaseExists($dbInfo, $root)) {
      $msg[] = "DROP all tables in your '$dbName' database.";
    }
    else {
      $msg[] = "CREATE the '$dbName' database.";
    }
    $this->io->out(" You are about to:\n\n");
    foreach ($msg as $m) {
      $this->io->out(" * $m\n");
    }
    $this->app->confirm('Do you want to continue?');
    // Site directory, settings.php and sites.php.
    if (!is_dir($siteDir)) {
      if (!@mkdir($siteDir, 0755, TRUE)) {
        throw new \RuntimeException("Failed to create directory $siteDir");
      }
    }
    if (!is_file($settingsFile) || filesize($settingsFile) === 0) {
      if (!@copy($root . '/sites/default/default.settings.php', $settingsFile)) {
        throw new \RuntimeException("Failed to copy sites/default/default.settings.php to $sitePath/settings.php");
      }
    }
    if ($subdir !== 'default' && !is_file($root . '/sites/sites.php')) {
      if (!@copy($root . '/sites/example.sites.php', $root . '/sites/sites.php')) {
        throw new \RuntimeException('Failed to copy sites/example.sites.php to sites/sites.php');
      }
    }
    // Drop all tables or create the database.
    try {
      $db = \StandIn\Db::connect($dbInfo, $root, TRUE);
      $db->dropAllTables();
      unset($db);
    }
    catch (\PDOException $e) {
      throw new \RuntimeException('Failed to drop or create the database: ' . $e->getMessage());
    }
    $this->io->log('notice', 'Starting Drupal installation. This takes a while.');
    $pass = $this->o['account-pass'] ?? NULL;
    $generated = $pass === NULL;
    if ($generated) {
      $chars = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
      $pass = '';
      for ($i = 0; $i < 10; $i++) {
        $pass .= $chars[random_int(0, strlen($chars) - 1)];
      }
    }
    $log = function (string $level, string $m): void {
      $this->io->log($level, $m);
    };
    \StandIn\install_run($root, $sitePath, $complete ? NULL : $urlInfo, [
      'profile' => $profile,
      'site_name' => (string) $this->o['site-name'],
      'site_mail' => (string) $this->o['site-mail'],
      'account_name' => (string) $this->o['account-name'],
      'account_pass' => (string) $pass,
      'account_mail' => (string) $this->o['account-mail'],
      'locale' => $locale,
    ], $log);
    if ($generated) {
      $this->io->log('success', 'Installation complete.  User name: ' . $this->o['account-name'] . '  User password: ' . $pass);
    }
    else {
      $this->io->log('success', 'Installation complete.');
    }
    return 0;
  }

  // ---------------------------------------------------------------------
  // updatedb, updatedb:status, cache:rebuild
  // ---------------------------------------------------------------------

  private function pending(): array {
    $site = $this->app->site();
    $out = [];
    foreach (\StandIn\pending_updates($site->db(), $this->app->root) as $id => $u) {
      $out[$id] = ['module' => $u['module'], 'update_id' => $u['update_id'], 'type' => 'hook_update_n', 'description' => $u['description']];
    }
    return $out;
  }

  private const UPDB_LABELS = ['module' => 'Module', 'update_id' => 'Update ID', 'type' => 'Type', 'description' => 'Description'];

  public function updatedbStatus(): int {
    if (!$this->app->site()->installed()) {
      return $this->bootstrapFailed();
    }
    $pending = $this->pending();
    if ($pending === []) {
      $this->io->log('success', 'No database updates required.');
      return 0;
    }
    $this->io->out(Output::formatRows($pending, self::UPDB_LABELS, $this->o));
    return 0;
  }

  public function updatedb(): int {
    $site = $this->app->site();
    if (!$site->installed()) {
      return $this->bootstrapFailed();
    }
    $db = $site->db();
    \StandIn\db($db);
    $pending = $this->pending();
    if ($pending === []) {
      $this->io->log('success', 'No pending updates.');
      $this->clearCaches($db);
      return 0;
    }
    $this->io->out(Output::formatRows($pending, self::UPDB_LABELS, ['format' => 'table']));
    $this->app->confirm('Do you wish to run the specified pending updates?');
    $wasOn = (bool) $db->kvGet('state', 'system.maintenance_mode');
    if (!$wasOn) {
      $db->kvSet('state', 'system.maintenance_mode', TRUE);
    }
    $failed = NULL;
    $failedModules = [];
    $batch = function (string $level, string $message): void {
      if ($level === 'error') {
        fwrite(STDERR, ">  [error]  $message \n");
      }
      elseif ($level !== 'info' || $this->io->verbosity > 0) {
        fwrite(STDERR, ">  [$level] $message\n");
      }
    };
    foreach ($pending as $fn => $u) {
      if (isset($failedModules[$u['module']])) {
        continue;
      }
      $batch('notice', "Update started: $fn");
      try {
        $sandbox = [];
        $fn($sandbox);
        $db->kvSet('system.schema', $u['module'], $u['update_id']);
        $batch('notice', "Update completed: $fn");
      }
      catch (\Throwable $e) {
        $batch('error', get_class($e) . ': ' . $e->getMessage() . " in $fn() (line " . $e->getLine() . ' of ' . $e->getFile() . ').');
        $batch('error', "Update failed: $fn");
        $failedModules[$u['module']] = TRUE;
        $failed = $failed ?? $fn;
      }
    }
    if (!$wasOn) {
      $db->kvSet('state', 'system.maintenance_mode', FALSE);
    }
    if (!empty($this->o['cache-clear'])) {
      $this->clearCaches($db);
    }
    if ($failed !== NULL) {
      $this->io->log('error', "Update aborted by: $failed");
      $this->io->log('error', 'Finished performing updates.');
      return 1;
    }
    $this->io->log('success', 'Finished performing updates.');
    return 0;
  }

  private function clearCaches(Db $db): void {
    if ($db->tableExists('cache_default')) {
      $db->q('DELETE FROM cache_default');
    }
  }

  public function cacheRebuild(): int {
    if (empty($this->o['cache-clear'])) {
      return 0;
    }
    $this->clearCaches($this->app->site()->db());
    $this->io->log('success', 'Cache rebuild complete.');
    return 0;
  }

  // ---------------------------------------------------------------------
  // SQL
  // ---------------------------------------------------------------------

  private function sqlInfo(): ?array {
    if (!empty($this->o['db-url'])) {
      return \StandIn\db_url_to_info((string) $this->o['db-url'], $this->app->root);
    }
    $site = $this->app->site();
    $key = (string) ($this->o['database'] ?? 'default');
    $target = (string) ($this->o['target'] ?? 'default');
    $info = $site->databases[$key][$target] ?? NULL;
    return is_array($info) && !empty($info['driver']) ? $info : NULL;
  }

  private function requireProgram(string $prog): bool {
    foreach (explode(PATH_SEPARATOR, (string) getenv('PATH')) as $dir) {
      if ($dir !== '' && is_executable($dir . '/' . $prog)) {
        return TRUE;
      }
    }
    $this->io->log('warning', "The shell command '$prog' is required but cannot be found. Please install it and retry.");
    return FALSE;
  }

  /**
   * The client command line; MySQL credentials go to a temporary defaults file.
   *
   * @return array{0: string[], 1: ?string}
   *   [argv, defaults file to delete]
   */
  private function clientCommand(array $info, string $program, array $extra = []): array {
    if ($info['driver'] === 'sqlite') {
      return [array_merge([$program], $extra, [\StandIn\sqlite_path($info, $this->app->root)]), NULL];
    }
    $file = tempnam(sys_get_temp_dir(), 'drush_');
    chmod($file, 0600);
    $q = fn($v) => '"' . str_replace(['\\', '"'], ['\\\\', '\\"'], (string) $v) . '"';
    $group = $program === 'mysqldump' ? 'client' : 'client';
    file_put_contents($file, "[$group]\nuser=" . $q($info['username'] ?? '') . "\npassword=" . $q($info['password'] ?? '') . "\n");
    $cmd = [$program, '--defaults-file=' . $file];
    if ($program !== 'mysqldump') {
      $cmd[] = '--database=' . $info['database'];
    }
    if (!empty($info['unix_socket'])) {
      $cmd[] = '--socket=' . $info['unix_socket'];
    }
    else {
      $cmd[] = '--host=' . ($info['host'] ?? 'localhost');
      if (!empty($info['port'])) {
        $cmd[] = '--port=' . $info['port'];
      }
    }
    return [array_merge($cmd, $extra), $file];
  }

  /**
   * Runs a process; stdin/stdout are file paths, STDIN/STDOUT resources or NULL.
   */
  private function runProcess(array $cmd, mixed $stdin, mixed $stdout, ?string &$stderrText = NULL): int {
    $errFile = tempnam(sys_get_temp_dir(), 'drush_err_');
    $spec = [
      0 => is_string($stdin) ? ['file', $stdin, 'r'] : ($stdin ?? ['file', '/dev/null', 'r']),
      1 => is_string($stdout) ? ['file', $stdout, 'w'] : ($stdout ?? ['file', '/dev/null', 'w']),
      2 => ['file', $errFile, 'w'],
    ];
    $this->io->log('info', 'Executing: ' . implode(' ', array_map('escapeshellarg', $cmd)));
    $proc = proc_open($cmd, $spec, $pipes);
    if (!is_resource($proc)) {
      @unlink($errFile);
      return 127;
    }
    $code = proc_close($proc);
    $stderrText = (string) file_get_contents($errFile);
    @unlink($errFile);
    return $code;
  }

  private function missingSettings(): int {
    $this->io->log('error', 'Unable to load Drupal settings. Check your --root, --uri, etc.');
    return 1;
  }

  private function tableList(Db $db, ?string $list): array {
    if ($list === NULL || $list === '') {
      return [];
    }
    $tables = $db->tables();
    $out = [];
    foreach (array_filter(array_map('trim', explode(',', $list))) as $pattern) {
      if (str_contains($pattern, '*')) {
        foreach ($tables as $t) {
          if (fnmatch(strtolower($pattern), strtolower($t))) {
            $out[] = $t;
          }
        }
      }
      else {
        $out[] = $pattern;
      }
    }
    return array_values(array_unique($out));
  }

  public function sqlDump(): int {
    $info = $this->sqlInfo();
    if ($info === NULL) {
      return $this->missingSettings();
    }
    $sqlite = $info['driver'] === 'sqlite';
    $program = $sqlite ? 'sqlite3' : 'mysqldump';
    if (!$this->requireProgram($program)) {
      return 1;
    }
    $file = $this->o['result-file'] ?? NULL;
    $dbName = $sqlite ? basename((string) $info['database']) : (string) $info['database'];
    if ($file === 'auto' || $file === '') {
      $home = getenv('HOME');
      $parent = ($home && is_dir($home)) ? $home . '/drush-backups' : sys_get_temp_dir() . '/drush-backups';
      $file = $parent . '/' . $dbName . '/' . date('YmdHis') . '/' . $dbName . '_' . date('Ymd_His') . '.sql';
    }
    if ($file !== NULL) {
      $file = str_replace(['@DATABASE', '@DATE'], [$dbName, date('Ymd_His')], (string) $file);
      $dir = dirname($file[0] === '/' ? $file : $this->app->root . '/' . $file);
      if (!is_dir($dir)) {
        @mkdir($dir, 0777, TRUE);
      }
    }
    $gzip = !empty($this->o['gzip']);
    $tmpOut = tempnam(sys_get_temp_dir(), 'drush_dump_');
    $passes = [];
    $defaults = [];
    try {
      if ($sqlite) {
        [$cmd] = $this->clientCommand($info, 'sqlite3');
        $cmd[] = '.dump';
        $passes[] = $cmd;
      }
      else {
        $db = Db::connect($info, $this->app->root);
        $skip = $this->tableList($db, $this->o['skip-tables-list'] ?? NULL);
        $structure = $this->tableList($db, $this->o['structure-tables-list'] ?? NULL);
        $only = $this->tableList($db, $this->o['tables-list'] ?? NULL);
        $opts = ['--no-autocommit', '--single-transaction', '--opt', '-Q'];
        if (!empty($this->o['data-only'])) {
          $opts[] = '--no-create-info';
        }
        if (!empty($this->o['ordered-dump'])) {
          $opts[] = '--skip-extended-insert';
          $opts[] = '--order-by-primary';
        }
        if (!empty($this->o['create-db'])) {
          $opts[] = '--add-drop-database';
        }
        if (!empty($this->o['extra-dump'])) {
          $opts = array_merge($opts, preg_split('/\s+/', trim((string) $this->o['extra-dump'])));
        }
        [$cmd, $df] = $this->clientCommand($info, 'mysqldump', $opts);
        $defaults[] = $df;
        $cmd = array_merge($cmd, !empty($this->o['create-db']) ? ['--databases', $info['database']] : [$info['database']]);
        if ($only) {
          $cmd = array_merge($cmd, $only);
        }
        foreach (array_merge($skip, $structure) as $t) {
          $cmd[] = '--ignore-table=' . $info['database'] . '.' . $t;
        }
        $passes[] = $cmd;
        if ($structure && !$only) {
          [$cmd2, $df2] = $this->clientCommand($info, 'mysqldump', ['--no-data', '--no-autocommit', '--single-transaction', '--opt', '-Q']);
          $defaults[] = $df2;
          $passes[] = array_merge($cmd2, [$info['database']], $structure);
        }
      }
      $all = '';
      $code = 0;
      foreach ($passes as $cmd) {
        $err = '';
        $code = $this->runProcess($cmd, NULL, $tmpOut, $err);
        if ($code !== 0) {
          throw new \RuntimeException('Unable to dump database. Rerun with --debug to see any error message. ' . trim($err));
        }
        $all .= (string) file_get_contents($tmpOut);
      }
      if ($gzip) {
        $all = (string) gzencode($all, 6);
        if ($file !== NULL) {
          $file .= '.gz';
        }
      }
      if ($file === NULL) {
        $this->io->out($all);
      }
      else {
        $abs = $file[0] === '/' ? $file : $this->app->root . '/' . $file;
        if (file_put_contents($abs, $all) === FALSE) {
          throw new \RuntimeException("Unable to dump database. Could not write $file.");
        }
        $this->io->log('success', "Database dump saved to $file");
      }
    }
    finally {
      @unlink($tmpOut);
      foreach ($defaults as $df) {
        @unlink($df);
      }
    }
    $fmt = (string) ($this->o['format'] ?? 'null');
    if ($fmt !== 'null') {
      $this->io->out(Output::formatProperties(['path' => $file], ['path' => 'Path'], $this->o));
    }
    return 0;
  }

  public function sqlQuery(): int {
    $info = $this->sqlInfo();
    if ($info === NULL) {
      return $this->missingSettings();
    }
    $sqlite = $info['driver'] === 'sqlite';
    $program = $sqlite ? 'sqlite3' : 'mysql';
    if (!$this->requireProgram($program)) {
      return 1;
    }
    $query = $this->app->args['query'] ?? NULL;
    $input = tempnam(sys_get_temp_dir(), 'drush_q_');
    $output = tempnam(sys_get_temp_dir(), 'drush_out_');
    $df = NULL;
    try {
      if (!empty($this->o['file'])) {
        $f = (string) $this->o['file'];
        $abs = $f[0] === '/' ? $f : $this->app->root . '/' . $f;
        if (!is_file($abs)) {
          throw new \RuntimeException("Unable to find $f");
        }
        $text = (string) file_get_contents($abs);
        if (str_ends_with($f, '.gz')) {
          $text = (string) gzdecode($text);
        }
        if (!empty($this->o['file-delete'])) {
          @unlink($abs);
        }
      }
      elseif ($query !== NULL) {
        $text = (string) $query;
      }
      else {
        throw new \RuntimeException('No query or --file given.');
      }
      if (!empty($this->o['db-prefix'])) {
        $prefix = (string) ($info['prefix'] ?? '');
        $text = preg_replace('/\{([A-Za-z0-9_]+)\}/', $prefix . '$1', $text);
      }
      file_put_contents($input, $text);
      $extra = $sqlite ? [] : ['--silent'];
      if (!empty($this->o['extra'])) {
        $extra = array_merge($extra, preg_split('/\s+/', trim((string) $this->o['extra'])));
      }
      [$cmd, $df] = $this->clientCommand($info, $program, $extra);
      $err = '';
      $code = $this->runProcess($cmd, $input, $output, $err);
      if ($code !== 0 || ($sqlite && preg_match('/^(Parse error|Runtime error|Error)/m', $err))) {
        throw new \RuntimeException('Query failed. Rerun with --debug to see any error message. ' . trim($err));
      }
      $result = (string) file_get_contents($output);
      if (!empty($this->o['result-file'])) {
        $rf = (string) $this->o['result-file'];
        file_put_contents($rf[0] === '/' ? $rf : $this->app->root . '/' . $rf, $result);
      }
      else {
        $this->io->out($result . "\n");
      }
    }
    finally {
      @unlink($input);
      @unlink($output);
      if ($df) {
        @unlink($df);
      }
    }
    return 0;
  }

  public function sqlCli(): int {
    $info = $this->sqlInfo();
    if ($info === NULL) {
      return $this->missingSettings();
    }
    $program = $info['driver'] === 'sqlite' ? 'sqlite3' : 'mysql';
    if (!$this->requireProgram($program)) {
      return 1;
    }
    $extra = $program === 'mysql' ? ['-A'] : [];
    if (!empty($this->o['extra'])) {
      $extra = array_merge($extra, preg_split('/\s+/', trim((string) $this->o['extra'])));
    }
    [$cmd, $df] = $this->clientCommand($info, $program, $extra);
    try {
      $proc = proc_open($cmd, [0 => STDIN, 1 => STDOUT, 2 => STDERR], $pipes);
      $code = is_resource($proc) ? proc_close($proc) : 127;
    }
    finally {
      if ($df) {
        @unlink($df);
      }
    }
    return $code;
  }

  public function sqlDrop(): int {
    $info = $this->sqlInfo();
    if ($info === NULL) {
      return $this->missingSettings();
    }
    $name = (string) $info['database'];
    $this->app->confirm("Do you really want to drop all tables in the database $name?");
    try {
      Db::connect($info, $this->app->root)->dropAllTables();
    }
    catch (\Throwable $e) {
      throw new \RuntimeException('Unable to drop all tables: ' . $e->getMessage());
    }
    return 0;
  }

  public function sqlCreate(): int {
    $info = $this->sqlInfo();
    if ($info === NULL) {
      return $this->missingSettings();
    }
    $name = (string) $info['database'];
    $this->io->out("Creating database $name. Any existing database will be dropped!\n");
    $this->app->confirm('Do you really want to continue?');
    if ($info['driver'] === 'sqlite') {
      $file = \StandIn\sqlite_path($info, $this->app->root);
      @unlink($file);
      if (!is_dir(dirname($file))) {
        mkdir(dirname($file), 0775, TRUE);
      }
      return 0;
    }
    $su = $info;
    if (!empty($this->o['db-su'])) {
      $su['username'] = $this->o['db-su'];
      $su['password'] = $this->o['db-su-pw'] ?? '';
    }
    try {
      $dsn = 'mysql:host=' . ($su['host'] ?? 'localhost') . (!empty($su['port']) ? ';port=' . $su['port'] : '');
      $pdo = new \PDO($dsn, $su['username'] ?? '', $su['password'] ?? '', [\PDO::ATTR_ERRMODE => \PDO::ERRMODE_EXCEPTION]);
      $q = '`' . str_replace('`', '``', $name) . '`';
      $pdo->exec("DROP DATABASE IF EXISTS $q");
      $pdo->exec("CREATE DATABASE $q /*!40100 DEFAULT CHARACTER SET utf8 */");
    }
    catch (\Throwable $e) {
      throw new \RuntimeException('Unable to create database. ' . $e->getMessage());
    }
    return 0;
  }

  // ---------------------------------------------------------------------
  // user:login, core:cron, pm:list
  // ---------------------------------------------------------------------

  public function userLogin(): int {
    $site = $this->app->site();
    if ($site->dbInfo() === NULL) {
      throw new \RuntimeException('The specified database connection is not defined: default');
    }
    if (!$site->installed()) {
      $this->io->out('Error: Class "Drupal\\user\\Entity\\User" not found in ' . __FILE__ . ':' . __LINE__ . "\n");
      $this->io->log('warning', 'Drush command terminated abnormally.');
      return 1;
    }
    $db = $site->db();
    if (!empty($this->o['uid'])) {
      $user = $db->q('SELECT * FROM users WHERE uid = ?', [(int) $this->o['uid']])->fetch(\PDO::FETCH_ASSOC);
      $by = 'uid: ' . $this->o['uid'];
    }
    elseif (!empty($this->o['name'])) {
      $user = $db->q('SELECT * FROM users WHERE name = ?', [$this->o['name']])->fetch(\PDO::FETCH_ASSOC);
      $by = 'name: ' . $this->o['name'];
    }
    elseif (!empty($this->o['mail'])) {
      $user = $db->q('SELECT * FROM users WHERE mail = ?', [$this->o['mail']])->fetch(\PDO::FETCH_ASSOC);
      $by = 'mail: ' . $this->o['mail'];
    }
    else {
      $user = $db->q('SELECT * FROM users WHERE uid = 1')->fetch(\PDO::FETCH_ASSOC);
      $by = 'uid: 1';
    }
    if (!$user || (int) $user['uid'] === 0) {
      throw new \RuntimeException("Unable to load user by $by");
    }
    if ((int) $user['status'] !== 1) {
      throw new \RuntimeException('Account ' . $user['name'] . ' is blocked and thus cannot login. The user:login command is only available for active users.');
    }
    $ts = time();
    $hash = \StandIn\user_pass_rehash($user, $ts, (string) $site->settings['hash_salt']);
    $url = rtrim($this->app->uri, '/') . '/user/reset/' . $user['uid'] . '/' . $ts . '/' . $hash . '/login';
    $path = $this->app->args['path'] ?? NULL;
    if ($path !== NULL && $path !== '') {
      $url .= '?destination=' . str_replace('%2F', '/', rawurlencode(ltrim($path, '/')));
    }
    $this->io->out($url . "\n");
    return 0;
  }

  public function cron(): int {
    $db = $this->app->site()->db();
    $db->kvSet('state', 'system.cron_last', time());
    $this->io->log('info', 'Cron run completed.');
    return 0;
  }

  public function pmList(): int {
    $root = $this->app->root;
    $db = $this->app->site()->db();
    $ext = $db->configGet('core.extension') ?? [];
    $types = array_map('trim', explode(',', (string) $this->o['type']));
    $statuses = array_map('trim', explode(',', strtolower((string) $this->o['status'])));
    $rows = [];
    foreach (\StandIn\discover_extensions($root) as $name => $e) {
      if (!in_array($e['type'], $types, TRUE)) {
        continue;
      }
      $enabled = $e['type'] === 'theme' ? isset($ext['theme'][$name]) : isset($ext['module'][$name]);
      if (!in_array($enabled ? 'enabled' : 'disabled', $statuses, TRUE)) {
        continue;
      }
      $isCore = str_starts_with($e['path'], 'core/');
      if ((!empty($this->o['core']) && !$isCore) || (!empty($this->o['no-core']) && $isCore)) {
        continue;
      }
      $package = (string) ($e['info']['package'] ?? '');
      if (!empty($this->o['package']) && strcasecmp($package, (string) $this->o['package']) !== 0) {
        continue;
      }
      $version = $e['info']['version'] ?? NULL;
      if ($version === 'VERSION') {
        $version = \Drupal::VERSION;
      }
      $rows[$name] = [
        'package' => $package,
        'project' => $isCore ? '' : (string) ($e['info']['project'] ?? ''),
        'display_name' => ($e['info']['name'] ?? $name) . " ($name)",
        'name' => $name,
        'type' => $e['type'],
        'path' => $e['path'],
        'status' => $enabled ? 'Enabled' : 'Disabled',
        'version' => $version,
      ];
    }
    $labels = ['package' => 'Package', 'project' => 'Project', 'display_name' => 'Name', 'name' => 'Name', 'type' => 'Type', 'path' => 'Path', 'status' => 'Status', 'version' => 'Version'];
    $this->io->out(Output::formatRows($rows, $labels, $this->o, ['package', 'display_name', 'status', 'version']));
    return 0;
  }

  // ---------------------------------------------------------------------
  // maint:*, state:*
  // ---------------------------------------------------------------------

  public function maintGet(): int {
    $v = $this->app->site()->db()->kvGet('state', 'system.maintenance_mode');
    $this->io->out(($v ? '1' : '0') . "\n");
    return 0;
  }

  public function maintSet(): int {
    $v = (string) $this->app->args['value'];
    $this->app->site()->db()->kvSet('state', 'system.maintenance_mode', (bool) (int) $v);
    return 0;
  }

  public function maintStatus(): int {
    return $this->app->site()->db()->kvGet('state', 'system.maintenance_mode') ? 3 : 0;
  }

  public function stateGet(): int {
    $key = (string) $this->app->args['key'];
    $v = $this->app->site()->db()->kvGet('state', $key);
    $this->io->out(Output::formatProperties([$key => $v], [$key => $key], $this->o));
    return 0;
  }

  public function stateSet(): int {
    $key = (string) $this->app->args['key'];
    $value = (string) $this->app->args['value'];
    if ($value === '-') {
      $value = rtrim((string) stream_get_contents(STDIN), "\n");
    }
    $format = (string) $this->o['input-format'];
    switch ($format) {
      case 'auto':
        if (is_numeric($value)) {
          $value = str_contains($value, '.') || stripos($value, 'e') !== FALSE ? (float) $value : (int) $value;
        }
        elseif (strcasecmp($value, 'true') === 0) {
          $value = TRUE;
        }
        elseif (strcasecmp($value, 'false') === 0) {
          $value = FALSE;
        }
        break;

      case 'integer':
        $value = (int) $value;
        break;

      case 'float':
        $value = (float) $value;
        break;

      case 'bool':
      case 'boolean':
        $value = (bool) $value;
        break;

      case 'json':
        $value = json_decode($value, TRUE, 512, JSON_THROW_ON_ERROR);
        break;

      case 'string':
        break;

      default:
        throw new \RuntimeException("Unsupported input format $format.");
    }
    $this->app->site()->db()->kvSet('state', $key, $value);
    return 0;
  }

  public function stateDelete(): int {
    $this->app->site()->db()->kvDelete('state', (string) $this->app->args['key']);
    return 0;
  }

  // ---------------------------------------------------------------------
  // php:eval, version, list, help, archive:restore
  // ---------------------------------------------------------------------

  public function phpEval(): int {
    $site = $this->app->site();
    if ($site->installed()) {
      \StandIn\db($site->db());
    }
    $result = eval(rtrim((string) $this->app->args['code'], "; \n") . ';');
    if (is_int($result)) {
      return $result;
    }
    if (is_string($result)) {
      $this->io->out($result . "\n");
    }
    elseif (is_array($result)) {
      $labels = array_combine(array_map('strval', array_keys($result)), array_map('strval', array_keys($result)));
      $fmt = (string) ($this->o['format'] ?? 'var_export');
      $this->io->out($fmt === 'json' ? Output::json($result) : ($fmt === 'yaml' ? Output::yaml($result) : Output::formatProperties($result, $labels, $this->o)));
    }
    return 0;
  }

  public function version(): int {
    $this->io->out(Output::formatProperties(['drush-version' => Application::VERSION], ['drush-version' => 'Drush version'], $this->o));
    return 0;
  }

  public function listCommands(): int {
    $out = "Drush Commandline Tool " . Application::VERSION . "\n\nSTAND-IN: a test stand-in for drush, not drush.\n\nAvailable commands:\n";
    foreach (Application::commands() as $name => $def) {
      $out .= '  ' . $name . ($def[0] ? ' (' . implode(', ', $def[0]) . ')' : '') . "\n";
    }
    $this->io->out($out);
    return 0;
  }

  public function help(?string $name = NULL): int {
    $name = $name ?? ($this->app->args['command_name'] ?? 'help');
    $commands = Application::commands();
    foreach ($commands as $cname => $def) {
      if ($cname === $name || in_array($name, $def[0], TRUE)) {
        $out = "Usage:\n  $cname" . ($def[1] ? ' [' . implode('] [', array_keys($def[1])) . ']' : '') . " [options]\n";
        if ($def[2]) {
          $out .= "\nOptions:\n";
          foreach ($def[2] as $o => $od) {
            $out .= '  --' . $o . ($od[1] === 'value' ? '=' . strtoupper($o) : '') . "\n";
          }
        }
        if ($def[0]) {
          $out .= "\nAliases: " . implode(', ', $def[0]) . "\n";
        }
        $this->io->out($out);
        return 0;
      }
    }
    throw new ConsoleError("Command \"$name\" is not defined.");
  }

  public function archiveRestore(): int {
    throw new \RuntimeException('archive:restore has been removed. A replacement may be available from your web host.');
  }

}

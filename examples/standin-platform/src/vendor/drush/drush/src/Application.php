<?php

/**
 * @file
 * STAND-IN drush: command table, option parsing, root/site discovery.
 */

declare(strict_types=1);

namespace StandInDrush;

final class Application {

  public const VERSION = '13.3.0.0';

  /**
   * Global options: name => [shortcut, mode (none|value|count), default].
   */
  public const GLOBAL_OPTIONS = [
    'root' => ['r', 'value', NULL],
    'uri' => ['l', 'value', NULL],
    'yes' => ['y', 'none', FALSE],
    'no' => [NULL, 'none', FALSE],
    'no-interaction' => ['n', 'none', FALSE],
    'verbose' => ['v', 'count', 0],
    'debug' => ['d', 'none', FALSE],
    'quiet' => ['q', 'none', FALSE],
    'simulate' => ['s', 'none', FALSE],
    'define' => ['D', 'value', NULL],
    'config' => ['c', 'value', NULL],
    'alias-path' => [NULL, 'value', NULL],
    'include' => [NULL, 'value', NULL],
    'local' => [NULL, 'none', FALSE],
    'strict' => [NULL, 'value', NULL],
    'xdebug' => [NULL, 'none', FALSE],
    'help' => ['h', 'none', FALSE],
    'version' => ['V', 'none', FALSE],
    'ansi' => [NULL, 'none', FALSE],
    'no-ansi' => [NULL, 'none', FALSE],
  ];

  public const SQL_OPTIONS = [
    'database' => [NULL, 'value', 'default'],
    'target' => [NULL, 'value', 'default'],
    'db-url' => [NULL, 'value', NULL],
    'show-passwords' => [NULL, 'none', FALSE],
  ];

  public const TABLE_OPTIONS = [
    'skip-tables-key' => [NULL, 'value', NULL],
    'structure-tables-key' => [NULL, 'value', NULL],
    'tables-key' => [NULL, 'value', NULL],
    'skip-tables-list' => [NULL, 'value', NULL],
    'structure-tables-list' => [NULL, 'value', NULL],
    'tables-list' => [NULL, 'value', NULL],
  ];

  public const FORMAT_OPTIONS = [
    'format' => [NULL, 'value', 'table'],
    'fields' => [NULL, 'value', NULL],
    'field' => [NULL, 'value', NULL],
  ];

  /**
   * Commands: name => [aliases, arguments (name => required|optional|array), options, full, method].
   *
   * "full" = registered only after a full bootstrap (drush 13.3).
   */
  public static function commands(): array {
    $fmt = self::FORMAT_OPTIONS;
    return [
      'core:status' => [['status', 'st', 'core-status'], [], $fmt + ['project' => [NULL, 'value', NULL]], FALSE, 'status'],
      'site:install' => [['si', 'sin', 'site-install'], ['recipeOrProfile' => 'optional', 'additional' => 'array'], [
        'db-url' => [NULL, 'value', NULL], 'db-prefix' => [NULL, 'value', NULL], 'db-su' => [NULL, 'value', NULL],
        'db-su-pw' => [NULL, 'value', NULL], 'account-name' => [NULL, 'value', 'admin'], 'account-mail' => [NULL, 'value', 'admin@example.com'],
        'site-mail' => [NULL, 'value', 'admin@example.com'], 'account-pass' => [NULL, 'value', NULL], 'locale' => [NULL, 'value', 'en'],
        'site-name' => [NULL, 'value', 'Drush Site-Install'], 'site-pass' => [NULL, 'value', NULL], 'sites-subdir' => [NULL, 'value', NULL],
        'config-dir' => [NULL, 'value', NULL], 'existing-config' => [NULL, 'none', FALSE],
      ], FALSE, 'siteInstall'],
      'updatedb' => [['updb'], [], [
        'cache-clear' => [NULL, 'negatable', TRUE], 'entity-updates' => [NULL, 'none', FALSE], 'post-updates' => [NULL, 'negatable', TRUE],
      ], FALSE, 'updatedb'],
      'updatedb:status' => [['updbst', 'updatedb-status'], [], $fmt + ['entity-updates' => [NULL, 'none', FALSE], 'post-updates' => [NULL, 'negatable', TRUE]], FALSE, 'updatedbStatus'],
      'cache:rebuild' => [['cr', 'rebuild', 'cache-rebuild'], [], ['cache-clear' => [NULL, 'negatable', TRUE]], TRUE, 'cacheRebuild'],
      'sql:dump' => [['sql-dump'], [], self::SQL_OPTIONS + self::TABLE_OPTIONS + [
        'result-file' => [NULL, 'value', NULL], 'create-db' => [NULL, 'none', FALSE], 'data-only' => [NULL, 'none', FALSE],
        'ordered-dump' => [NULL, 'none', FALSE], 'gzip' => [NULL, 'none', FALSE], 'extra' => [NULL, 'value', NULL],
        'extra-dump' => [NULL, 'value', NULL], 'format' => [NULL, 'value', 'null'], 'fields' => [NULL, 'value', NULL], 'field' => [NULL, 'value', NULL],
      ], FALSE, 'sqlDump'],
      'sql:query' => [['sqlq', 'sql-query'], ['query' => 'optional'], self::SQL_OPTIONS + [
        'result-file' => [NULL, 'value', NULL], 'file' => [NULL, 'value', NULL], 'file-delete' => [NULL, 'none', FALSE],
        'extra' => [NULL, 'value', NULL], 'db-prefix' => [NULL, 'none', FALSE],
      ], FALSE, 'sqlQuery'],
      'sql:cli' => [['sqlc', 'sql-cli'], [], self::SQL_OPTIONS + ['extra' => [NULL, 'value', NULL]], FALSE, 'sqlCli'],
      'sql:drop' => [['sql-drop'], [], self::SQL_OPTIONS, FALSE, 'sqlDrop'],
      'sql:create' => [['sql-create'], [], self::SQL_OPTIONS + ['db-su' => [NULL, 'value', NULL], 'db-su-pw' => [NULL, 'value', NULL]], FALSE, 'sqlCreate'],
      'user:login' => [['uli', 'user-login'], ['path' => 'optional'], [
        'name' => [NULL, 'value', NULL], 'uid' => [NULL, 'value', NULL], 'mail' => [NULL, 'value', NULL],
        'browser' => [NULL, 'negatable', TRUE], 'redirect-port' => [NULL, 'value', NULL],
      ], FALSE, 'userLogin'],
      'core:cron' => [['cron', 'core-cron'], [], [], TRUE, 'cron'],
      'pm:list' => [['pml', 'pm-list'], [], $fmt + [
        'type' => [NULL, 'value', 'module,theme'], 'status' => [NULL, 'value', 'enabled,disabled'], 'package' => [NULL, 'value', NULL],
        'core' => [NULL, 'none', FALSE], 'no-core' => [NULL, 'none', FALSE],
      ], TRUE, 'pmList'],
      'maint:get' => [['mget'], [], [], TRUE, 'maintGet'],
      'maint:set' => [['mset'], ['value' => 'required'], [], TRUE, 'maintSet'],
      'maint:status' => [['mstatus'], [], [], TRUE, 'maintStatus'],
      'state:get' => [['sget', 'state-get'], ['key' => 'required'], ['format' => [NULL, 'value', 'string'], 'fields' => [NULL, 'value', NULL], 'field' => [NULL, 'value', NULL]], TRUE, 'stateGet'],
      'state:set' => [['sset', 'state-set'], ['key' => 'required', 'value' => 'required'], ['input-format' => [NULL, 'value', 'auto']], TRUE, 'stateSet'],
      'state:delete' => [['sdel', 'state-delete'], ['key' => 'required'], [], TRUE, 'stateDelete'],
      'php:eval' => [['eval', 'ev', 'php-eval'], ['code' => 'required'], ['format' => [NULL, 'value', 'var_export'], 'fields' => [NULL, 'value', NULL], 'field' => [NULL, 'value', NULL]], FALSE, 'phpEval'],
      'version' => [[], [], $fmt, FALSE, 'version'],
      'list' => [[], ['namespace' => 'optional'], ['format' => [NULL, 'value', 'txt'], 'raw' => [NULL, 'none', FALSE], 'filter' => [NULL, 'value', NULL]], FALSE, 'listCommands'],
      'help' => [[], ['command_name' => 'optional'], ['format' => [NULL, 'value', 'txt'], 'raw' => [NULL, 'none', FALSE]], FALSE, 'help'],
      'archive:restore' => [['arr'], ['path' => 'optional', 'site' => 'optional'], [], FALSE, 'archiveRestore'],
    ];
  }

  public Output $io;
  public string $drushDir;
  public string $projectRoot = '';
  public string $root = '';
  public string $uri = 'http://default';
  public bool $uriGiven = FALSE;
  public array $options = [];
  public array $args = [];
  public string $commandName = '';
  public string $invokedAs = '';
  private ?\StandIn\Site $site = NULL;

  public function __construct(string $drushDir) {
    $this->drushDir = $drushDir;
    $this->io = new Output();
  }

  public function run(array $argv): int {
    array_shift($argv);
    try {
      return $this->doRun($argv);
    }
    catch (UserAbort $e) {
      $this->io->log('error', 'Cancelled.');
      return 1;
    }
    catch (\Throwable $e) {
      $this->io->errorBlock($e);
      $code = $e->getCode();
      return is_int($code) && $code > 0 ? $code : 1;
    }
  }

  /**
   * Finds the command name and the option definition without parsing fully.
   */
  private function findCommandToken(array $tokens): ?string {
    $skipNext = FALSE;
    foreach ($tokens as $t) {
      if ($skipNext) {
        $skipNext = FALSE;
        continue;
      }
      if ($t === '--') {
        return NULL;
      }
      if (str_starts_with($t, '--')) {
        $name = substr($t, 2);
        if (!str_contains($name, '=') && (self::GLOBAL_OPTIONS[$name][1] ?? '') === 'value') {
          $skipNext = TRUE;
        }
        continue;
      }
      if (str_starts_with($t, '-') && $t !== '-') {
        $c = $t[1];
        foreach (self::GLOBAL_OPTIONS as $def) {
          if ($def[0] === $c && $def[1] === 'value' && strlen($t) === 2) {
            $skipNext = TRUE;
          }
        }
        continue;
      }
      return $t;
    }
    return NULL;
  }

  /**
   * Symfony ArgvInput-style parsing against a definition.
   */
  private function parse(array $tokens, array $optDefs, array $argDefs, string $cmd): void {
    $shortcuts = [];
    foreach ($optDefs as $name => $def) {
      if ($def[0] !== NULL) {
        $shortcuts[$def[0]] = $name;
      }
    }
    $opts = [];
    foreach ($optDefs as $name => $def) {
      $opts[$name] = $def[2];
    }
    $positional = [];
    $onlyArgs = FALSE;
    while ($tokens) {
      $t = array_shift($tokens);
      if ($onlyArgs || $t === '-' || !str_starts_with($t, '-')) {
        $positional[] = $t;
        continue;
      }
      if ($t === '--') {
        $onlyArgs = TRUE;
        continue;
      }
      if (str_starts_with($t, '--')) {
        $name = substr($t, 2);
        $value = NULL;
        if (str_contains($name, '=')) {
          [$name, $value] = explode('=', $name, 2);
        }
        if (!isset($optDefs[$name])) {
          if (str_starts_with($name, 'no-') && ($optDefs[substr($name, 3)][1] ?? '') === 'negatable') {
            if ($value !== NULL) {
              throw new ConsoleError("The \"--$name\" option does not accept a value.");
            }
            $opts[substr($name, 3)] = FALSE;
            continue;
          }
          throw new ConsoleError("The \"--$name\" option does not exist.");
        }
        $this->setOption($opts, $name, $optDefs[$name], $value, $tokens, "--$name");
        continue;
      }
      // Short options.
      $chars = substr($t, 1);
      for ($i = 0; $i < strlen($chars); $i++) {
        $c = $chars[$i];
        if (!isset($shortcuts[$c])) {
          throw new ConsoleError("The \"-$c\" option does not exist.");
        }
        $name = $shortcuts[$c];
        if ($optDefs[$name][1] === 'value') {
          $rest = substr($chars, $i + 1);
          $this->setOption($opts, $name, $optDefs[$name], $rest === '' ? NULL : ltrim($rest, '='), $tokens, "--$name");
          break;
        }
        $this->setOption($opts, $name, $optDefs[$name], NULL, $tokens, "--$name");
      }
    }
    // Arguments: the first positional is the command name.
    array_shift($positional);
    $args = [];
    foreach ($argDefs as $name => $mode) {
      if ($mode === 'array') {
        $args[$name] = $positional;
        $positional = [];
        continue;
      }
      if ($positional) {
        $args[$name] = array_shift($positional);
      }
      elseif ($mode === 'required') {
        $missing = array_keys(array_filter($argDefs, fn($m, $n) => $m === 'required' && !isset($args[$n]), ARRAY_FILTER_USE_BOTH));
        throw new ConsoleError('Not enough arguments (missing: "' . implode(', ', $missing) . '").');
      }
      else {
        $args[$name] = NULL;
      }
    }
    if ($positional) {
      if (!$argDefs) {
        throw new ConsoleError("No arguments expected for \"$cmd\" command, got \"{$positional[0]}\".");
      }
      throw new ConsoleError("Too many arguments to \"$cmd\" command, expected arguments \"command\" \"" . implode('" "', array_keys($argDefs)) . '".');
    }
    $this->options = $opts;
    $this->args = $args;
  }

  private function setOption(array &$opts, string $name, array $def, ?string $value, array &$tokens, string $display): void {
    switch ($def[1]) {
      case 'none':
      case 'negatable':
        if ($value !== NULL) {
          throw new ConsoleError("The \"$display\" option does not accept a value.");
        }
        $opts[$name] = TRUE;
        return;

      case 'count':
        if ($value !== NULL) {
          throw new ConsoleError("The \"$display\" option does not accept a value.");
        }
        $opts[$name] = (int) $opts[$name] + 1;
        return;

      case 'value':
        if ($value === NULL && $tokens && ($tokens[0] === '' || $tokens[0][0] !== '-')) {
          $value = array_shift($tokens);
        }
        if ($value === NULL) {
          throw new ConsoleError("The \"$display\" option requires a value.");
        }
        $opts[$name] = $value;
        return;
    }
  }

  private function doRun(array $tokens): int {
    // Verbosity first so that early errors honour -v.
    foreach ($tokens as $t) {
      if ($t === '--') {
        break;
      }
      if (preg_match('/^-(v+)$/', $t, $m)) {
        $this->io->verbosity = max($this->io->verbosity, strlen($m[1]));
      }
      elseif ($t === '--verbose') {
        $this->io->verbosity = max($this->io->verbosity, 1);
      }
      elseif ($t === '-d' || $t === '--debug') {
        $this->io->verbosity = 3;
      }
      elseif ($t === '-q' || $t === '--quiet') {
        $this->io->quiet = TRUE;
      }
    }
    $name = $this->findCommandToken($tokens);
    if ($name === NULL) {
      if (in_array('--version', $tokens, TRUE) || in_array('-V', $tokens, TRUE)) {
        $this->io->out('Drush Commandline Tool ' . self::VERSION . "\n");
        return 0;
      }
      $name = 'list';
      $tokens = array_merge(['list'], $tokens);
    }
    $this->invokedAs = $name;
    $commands = self::commands();
    $canonical = NULL;
    foreach ($commands as $cname => $def) {
      if ($cname === $name || in_array($name, $def[0], TRUE)) {
        $canonical = $cname;
        break;
      }
    }
    $this->findRoot();
    // Preliminary parse of global options to select the site.
    $this->selectUri($tokens);
    if ($canonical === NULL || $commands[$canonical][3]) {
      $site = $this->site();
      if (!$site->installed()) {
        $msg = "Command $name was not found. ";
        $msg .= $site->dbReady()
          ? 'Drush successfully connected to the database but was unable to fully bootstrap your site. As a result, many commands are unavailable. Re-run your command with --debug to see relevant log messages.'
          : 'Drush was unable to query the database. As a result, many commands are unavailable. Re-run your command with --debug to see relevant log messages.';
        throw new ConsoleError($msg);
      }
      if ($canonical === NULL) {
        throw new ConsoleError("Command \"$name\" is not defined.");
      }
    }
    [$aliases, $argDefs, $optDefs, , $method] = $commands[$canonical];
    $this->commandName = $canonical;
    $this->parse($tokens, self::GLOBAL_OPTIONS + $optDefs, $argDefs, $canonical);
    if (!empty($this->options['help'])) {
      return (new Commands($this))->help($canonical);
    }
    if (!empty($this->options['version'])) {
      $this->io->out('Drush Commandline Tool ' . self::VERSION . "\n");
      return 0;
    }
    $result = (new Commands($this))->$method();
    return $result;
  }

  /**
   * Root = the parent of core/ in this Composer project (realpath).
   */
  private function findRoot(): void {
    $project = dirname($this->drushDir, 3);
    $this->projectRoot = realpath($project) ?: $project;
    foreach (['web', 'docroot', 'html', '.'] as $candidate) {
      $dir = $this->projectRoot . '/' . $candidate;
      if (is_file($dir . '/core/lib/Drupal.php')) {
        $this->root = (string) realpath($dir);
        break;
      }
    }
    if ($this->root === '') {
      throw new ConsoleError('Globally installed Drush is no longer supported; Drush must be installed inside a Drupal site.');
    }
    require_once $this->root . '/core/includes/standin.inc';
    chdir($this->root);
  }

  /**
   * Determines --uri (drush's normalisation).
   */
  private function selectUri(array $tokens): void {
    $uri = NULL;
    $n = count($tokens);
    for ($i = 0; $i < $n; $i++) {
      $t = $tokens[$i];
      if ($t === '--') {
        break;
      }
      if (str_starts_with($t, '--uri=')) {
        $uri = substr($t, 6);
      }
      elseif (($t === '--uri' || $t === '-l') && $i + 1 < $n) {
        $uri = $tokens[++$i];
      }
      elseif (preg_match('/^-l(.+)$/', $t, $m)) {
        $uri = ltrim($m[1], '=');
      }
      elseif (in_array($t, ['--root', '-r', '--define', '-D', '--config', '-c', '--alias-path', '--include', '--strict'], TRUE)) {
        $i++;
      }
    }
    if ($uri === NULL || $uri === '') {
      $cwd = (string) getcwd();
      $uri = 'default';
      $sites = $this->root . '/sites/';
      $dir = $cwd;
      while (str_starts_with($dir . '/', $sites) && strlen($dir) > strlen($sites)) {
        if (is_file($dir . '/settings.php')) {
          $uri = basename($dir);
          break;
        }
        $dir = dirname($dir);
      }
    }
    else {
      $this->uriGiven = TRUE;
    }
    if (!preg_match('#^[a-z][a-z0-9+.-]*://#i', $uri)) {
      $uri = 'http://' . $uri;
    }
    $this->uri = $uri;
  }

  /**
   * The site selected by --uri, Drupal's way.
   */
  public function site(): \StandIn\Site {
    if ($this->site === NULL) {
      $p = parse_url($this->uri) ?: [];
      $scheme = strtolower($p['scheme'] ?? 'http');
      $host = $p['host'] ?? 'default';
      if (isset($p['port']) && $p['port'] !== ($scheme === 'https' ? 443 : 80)) {
        $host .= ':' . $p['port'];
      }
      $script = rtrim($p['path'] ?? '', '/') . '/index.php';
      $this->site = new \StandIn\Site($this->root, \StandIn\find_site_path($this->root, $host, $script));
    }
    return $this->site;
  }

  public function resetSite(string $site_path): \StandIn\Site {
    $this->site = new \StandIn\Site($this->root, $site_path);
    return $this->site;
  }

  public function confirm(string $question): void {
    if (!empty($this->options['no'])) {
      $this->io->out("\n // $question: no.\n\n");
      throw new UserAbort('Cancelled.');
    }
    if (empty($this->options['yes']) && empty($this->options['no-interaction']) && function_exists('posix_isatty') && posix_isatty(STDIN)) {
      $this->io->out("\n $question (yes/no) [yes]:\n > ");
      $answer = strtolower(trim((string) fgets(STDIN)));
      if ($answer !== '' && !in_array($answer, ['y', 'yes'], TRUE)) {
        throw new UserAbort('Cancelled.');
      }
      return;
    }
    $this->io->out("\n // $question: yes.\n\n");
  }

}

<?php

/**
 * @file
 * STAND-IN drush: streams, log lines, error blocks and output formatters.
 */

declare(strict_types=1);

namespace StandInDrush;

/**
 * An error shown as a console error (no "In File.php line N:" header).
 */
class ConsoleError extends \RuntimeException {}

/**
 * A confirmation was declined.
 */
class UserAbort extends \RuntimeException {}

final class Output {

  public int $verbosity = 0;
  public bool $quiet = FALSE;

  /**
   * Multibyte-safe length and split without the mbstring extension.
   */
  public static function len(string $s): int {
    return (int) preg_match_all('/./us', $s);
  }

  public static function split(string $s, int $n): array {
    preg_match_all('/.{1,' . $n . '}/us', $s, $m);
    return $m[0] ?: [''];
  }

  public function out(string $text): void {
    if (!$this->quiet) {
      fwrite(STDOUT, $text);
    }
  }

  public function log(string $level, string $message): void {
    $min = ['error' => 0, 'warning' => 0, 'notice' => 0, 'success' => 0, 'info' => 1, 'debug' => 3];
    if ($this->verbosity < ($min[$level] ?? 0)) {
      return;
    }
    if ($this->quiet && $level !== 'error') {
      return;
    }
    if ($level === 'error') {
      fwrite(STDERR, " [error]  $message \n");
    }
    else {
      fwrite(STDERR, " [$level] $message\n");
    }
  }

  /**
   * Symfony's rendering of an uncaught error (80-column terminal).
   */
  public function errorBlock(\Throwable $e): void {
    $lines = [];
    foreach (preg_split('/\R/', $e->getMessage()) as $l) {
      foreach (self::split($l === '' ? ' ' : $l, 75) as $chunk) {
        $lines[] = $chunk;
      }
    }
    $width = max(array_map([self::class, 'len'], $lines)) + 4;
    $text = "\n";
    $console = $e instanceof ConsoleError;
    if (!$console || $this->verbosity > 0) {
      $text .= 'In ' . basename($e->getFile()) . ' line ' . $e->getLine() . ":\n";
    }
    $title = $this->verbosity > 0 ? '  [' . get_class($e) . ']  ' : '';
    $text .= str_repeat(' ', $width) . "\n";
    if ($title !== '') {
      $text .= str_pad($title, $width) . "\n";
    }
    foreach ($lines as $l) {
      $text .= '  ' . $l . str_repeat(' ', $width - 4 - self::len($l)) . "  \n";
    }
    $text .= str_repeat(' ', $width) . "\n\n";
    fwrite(STDERR, $text);
  }

  public static function json(mixed $data): string {
    return json_encode($data, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION) . "\n";
  }

  public static function scalarText(mixed $v): string {
    if (is_array($v)) {
      return implode(', ', array_map([self::class, 'scalarText'], $v));
    }
    if (is_bool($v)) {
      return $v ? '1' : '';
    }
    return (string) $v;
  }

  public static function yaml(mixed $data, int $indent = 0): string {
    $pad = str_repeat('  ', $indent);
    if (!is_array($data)) {
      return $pad . self::yamlScalar($data) . "\n";
    }
    if ($data === []) {
      return $pad . "{  }\n";
    }
    $out = '';
    $list = array_is_list($data);
    foreach ($data as $k => $v) {
      $key = $list ? '-' : self::yamlScalar((string) $k) . ':';
      if (is_array($v) && $v !== []) {
        $out .= $pad . $key . "\n" . self::yaml($v, $indent + 1);
      }
      else {
        $out .= $pad . $key . ' ' . (is_array($v) ? '{  }' : self::yamlScalar($v)) . "\n";
      }
    }
    return $out;
  }

  private static function yamlScalar(mixed $v): string {
    if ($v === NULL) {
      return 'null';
    }
    if (is_bool($v)) {
      return $v ? 'true' : 'false';
    }
    if (is_int($v) || is_float($v)) {
      return (string) $v;
    }
    $s = (string) $v;
    if ($s === '' || preg_match('/^[\s\-?:,\[\]{}#&*!|>\'"%@`]|[:#]\s|\s$|^(true|false|null|~|yes|no|on|off)$|^[0-9.+-]+$/i', $s)) {
      return "'" . str_replace("'", "''", $s) . "'";
    }
    return $s;
  }

  /**
   * Renders a rows-of-fields table in consolidation's style.
   */
  public static function table(array $header, array $rows): string {
    $widths = array_map([self::class, 'len'], $header);
    foreach ($rows as $r) {
      foreach (array_values($r) as $i => $c) {
        $widths[$i] = max($widths[$i] ?? 0, self::len($c));
      }
    }
    $sep = ' ' . implode(' ', array_map(fn($w) => str_repeat('-', $w + 2), $widths)) . " \n";
    $line = function (array $cells) use ($widths): string {
      $parts = [];
      foreach (array_values($cells) as $i => $c) {
        $parts[] = ' ' . $c . str_repeat(' ', $widths[$i] - self::len($c)) . ' ';
      }
      return ' ' . implode(' ', $parts) . " \n";
    };
    $out = $sep . $line($header) . $sep;
    foreach ($rows as $r) {
      $out .= $line($r);
    }
    return $out . $sep;
  }

  /**
   * Resolves --fields names (keys or labels, "*" wildcard).
   *
   * @return string[]
   */
  public static function selectFields(string $spec, array $labels): array {
    $out = [];
    foreach (array_filter(array_map('trim', explode(',', $spec)), 'strlen') as $name) {
      if ($name === '*') {
        $out = array_merge($out, array_keys($labels));
        continue;
      }
      $key = isset($labels[$name]) ? $name : array_search($name, $labels, TRUE);
      if ($key === FALSE) {
        $key = NULL;
        foreach ($labels as $k => $label) {
          if (strcasecmp($label, $name) === 0 || fnmatch($name, $k)) {
            $key = $k;
            break;
          }
        }
      }
      if ($key === NULL) {
        throw new \InvalidArgumentException("The requested field, '$name', is not defined.");
      }
      $out[] = $key;
    }
    return array_values(array_unique($out));
  }

  /**
   * Formats a property list (one record).
   */
  public static function formatProperties(array $data, array $labels, array $opts, array $tableDefault = []): string {
    $format = (string) ($opts['format'] ?? 'table');
    if (!empty($opts['field'])) {
      $key = self::selectFields((string) $opts['field'], $labels)[0];
      return array_key_exists($key, $data) ? self::scalarText($data[$key]) . "\n" : "\n";
    }
    if (!empty($opts['fields'])) {
      $keys = self::selectFields((string) $opts['fields'], $labels);
    }
    elseif ($format === 'table' && $tableDefault) {
      $keys = $tableDefault;
    }
    else {
      $keys = array_keys($labels);
    }
    $sel = [];
    foreach ($keys as $k) {
      if (array_key_exists($k, $data)) {
        $sel[$k] = $data[$k];
      }
    }
    switch ($format) {
      case 'json':
        return self::json($sel);

      case 'yaml':
        return self::yaml($sel);

      case 'var_export':
        return var_export($sel, TRUE) . "\n";

      case 'print-r':
        return print_r($sel, TRUE) . "\n";

      case 'var_dump':
        ob_start();
        var_dump($sel);
        return (string) ob_get_clean();

      case 'null':
        return '';

      case 'string':
      case 'list':
      case 'tsv':
        if ($sel === []) {
          return '';
        }
        return ($format === 'tsv' ? implode("\t", array_map([self::class, 'scalarText'], $sel)) : implode("\n", array_map([self::class, 'scalarText'], $sel))) . "\n";

      case 'csv':
        return implode(',', array_map([self::class, 'scalarText'], $sel)) . "\n";

      case 'table':
        if ($sel === []) {
          return '';
        }
        $w = max(array_map(fn($k) => self::len($labels[$k] ?? $k), array_keys($sel)));
        $out = '';
        foreach ($sel as $k => $v) {
          $label = $labels[$k] ?? $k;
          $out .= ' ' . $label . str_repeat(' ', $w - self::len($label)) . ' : ' . self::scalarText($v) . "\n";
        }
        return $out;
    }
    throw new \InvalidArgumentException("Unknown format $format.");
  }

  /**
   * Formats rows of fields keyed by row id.
   */
  public static function formatRows(array $rows, array $labels, array $opts, array $tableDefault = []): string {
    $format = (string) ($opts['format'] ?? 'table');
    if (!empty($opts['field'])) {
      $key = self::selectFields((string) $opts['field'], $labels)[0];
      $out = '';
      foreach ($rows as $r) {
        $out .= self::scalarText($r[$key] ?? '') . "\n";
      }
      return $out;
    }
    if (!empty($opts['fields'])) {
      $keys = self::selectFields((string) $opts['fields'], $labels);
    }
    elseif ($format === 'table' && $tableDefault) {
      $keys = $tableDefault;
    }
    else {
      $keys = array_keys($labels);
    }
    $sel = [];
    foreach ($rows as $id => $r) {
      $sel[$id] = [];
      foreach ($keys as $k) {
        if (array_key_exists($k, $r)) {
          $sel[$id][$k] = $r[$k];
        }
      }
    }
    switch ($format) {
      case 'json':
        return self::json($sel === [] ? [] : $sel);

      case 'yaml':
        return $sel === [] ? "{  }\n" : self::yaml($sel);

      case 'var_export':
        return var_export($sel, TRUE) . "\n";

      case 'print-r':
        return print_r($sel, TRUE) . "\n";

      case 'null':
        return '';

      case 'csv':
      case 'tsv':
        $glue = $format === 'csv' ? ',' : "\t";
        $out = '';
        foreach ($sel as $r) {
          $out .= implode($glue, array_map([self::class, 'scalarText'], $r)) . "\n";
        }
        return $out;

      case 'list':
      case 'string':
        return $sel === [] ? '' : implode("\n", array_keys($sel)) . "\n";

      case 'table':
        if ($sel === []) {
          return '';
        }
        $header = array_map(fn($k) => $labels[$k] ?? $k, $keys);
        $body = [];
        foreach ($sel as $r) {
          $line = [];
          foreach ($keys as $k) {
            $line[] = self::scalarText($r[$k] ?? '');
          }
          $body[] = $line;
        }
        return self::table($header, $body);
    }
    throw new \InvalidArgumentException("Unknown format $format.");
  }

}

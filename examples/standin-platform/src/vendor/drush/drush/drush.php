<?php

/**
 * @file
 * STAND-IN drush entry point: speaks drush 13.3's command-line contract for
 * the commands a hosting controller uses. This is not drush.
 */

declare(strict_types=1);

require __DIR__ . '/src/Output.php';
require __DIR__ . '/src/Application.php';
require __DIR__ . '/src/Commands.php';

exit((new \StandInDrush\Application(__DIR__))->run($_SERVER['argv']));

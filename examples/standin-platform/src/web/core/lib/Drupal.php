<?php

/**
 * @file
 * STAND-IN for Drupal's core/lib/Drupal.php: only the constants.
 *
 * Stamped by build-repo.sh; this is not Drupal.
 */

/**
 * Static service container wrapper (stand-in: constants only).
 */
class Drupal {

  /**
   * The current system version.
   */
  const VERSION = '@VERSION@';

  /**
   * Core API compatibility.
   */
  const CORE_COMPATIBILITY = '8.x';

  /**
   * Core minimum schema version.
   */
  const CORE_MINIMUM_SCHEMA_VERSION = 8000;

  /**
   * Minimum supported version of PHP.
   */
  const MINIMUM_PHP = '8.1.0';

  /**
   * Minimum recommended value of PHP memory_limit.
   */
  const MINIMUM_PHP_MEMORY_LIMIT = '64M';

  /**
   * Minimum recommended version of PHP.
   */
  const RECOMMENDED_PHP = '@RECOMMENDED_PHP@';

}

<?php echo "php ok " . PHP_MAJOR_VERSION . "." . PHP_MINOR_VERSION . "\n";

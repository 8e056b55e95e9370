<?php
require __DIR__ . "/../vendor/autoload.php";
echo "ok php-composer\n";

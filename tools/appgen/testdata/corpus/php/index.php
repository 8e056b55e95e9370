<?php
// A legacy PHP page.
echo "ok php\n";

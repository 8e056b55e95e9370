#!/bin/sh
# make-archives.sh OUT — builds the corpus's and variants' WARs and jars from
# testdata/src with the JDK's javac and jar, reproducibly (fixed entry dates,
# sorted entries). TestArchivesReproducible runs it and compares with the
# committed archives; run it with OUT=testdata to regenerate them:
#   sh testdata/make-archives.sh testdata
set -eu
out=${1:?usage: make-archives.sh OUT}
src=$(cd "$(dirname "$0")/src" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
date=2026-01-01T00:00:00Z

# zip DIR ARCHIVE MANIFEST: entries in sorted order, fixed dates.
mkjar() {
  (cd "$1" && find . -type f ! -name MANIFEST.MF | LC_ALL=C sort | sed 's|^\./||' > "$tmp/list")
  if [ -n "$3" ]; then
    (cd "$1" && jar --create --date=$date --file "$2" --manifest "$3" @"$tmp/list")
  else
    (cd "$1" && jar --create --date=$date --no-manifest --file "$2" @"$tmp/list")
  fi
}

# WAR: a web.xml and a static page.
mkdir -p "$out/corpus/war" "$out/variants/war-multi/target"
mkjar "$src/war" "$out/corpus/war/hello.war" ""
cp "$out/corpus/war/hello.war" "$out/variants/war-multi/target/shop.war"
cp "$out/corpus/war/hello.war" "$out/variants/war-multi/target/admin.war"

# Plain executable jar.
mkdir -p "$tmp/jar"
javac --release 17 -d "$tmp/jar" "$src/jar/hello/Main.java"
printf 'Manifest-Version: 1.0\nMain-Class: hello.Main\nCreated-By: fatbox make-archives.sh\n' > "$tmp/jar.mf"
mkdir -p "$out/corpus/jar"
mkjar "$tmp/jar" "$out/corpus/jar/hello.jar" "$tmp/jar.mf"
printf 'Manifest-Version: 1.0\nMain-Class: hello.Main\nClass-Path: lib/commons-text.jar\nCreated-By: fatbox make-archives.sh\n' > "$tmp/jarcp.mf"
mkdir -p "$out/variants/jar-classpath/build/libs"
mkjar "$tmp/jar" "$out/variants/jar-classpath/build/libs/report.jar" "$tmp/jarcp.mf"

# Spring Boot layout by hand: the launcher at the top, the app and its
# properties in BOOT-INF/classes/.
mkdir -p "$tmp/boot/BOOT-INF/classes"
javac --release 17 -d "$tmp/boot" "$src/springboot/bootlite/Launcher.java"
javac --release 17 -d "$tmp/boot/BOOT-INF/classes" "$src/springboot/hello/App.java"
cp "$src/springboot/application.properties" "$tmp/boot/BOOT-INF/classes/"
printf 'Manifest-Version: 1.0\nMain-Class: bootlite.Launcher\nStart-Class: hello.App\nSpring-Boot-Classes: BOOT-INF/classes/\nCreated-By: fatbox make-archives.sh\n' > "$tmp/boot.mf"
mkdir -p "$out/corpus/springboot" "$out/variants/springboot-target/target"
mkjar "$tmp/boot" "$out/corpus/springboot/app.jar" "$tmp/boot.mf"
cp "$out/corpus/springboot/app.jar" "$out/variants/springboot-target/target/demo-0.1.jar"

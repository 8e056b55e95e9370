// Package appgen is the Dockerfile generator behind `fatbox dockerfile`: it
// looks at a legacy application and plans a fat image for it — the base
// image (debian12-fat, debian12-java for WARs, webapps and jars,
// debian12-php for PHP), the Debian packages its dependencies map to, where
// its files go, the supervisord programs, units and init scripts that start
// it, its cron tables, log directories and ports — and renders a build
// context: Dockerfile, fatbox/supervisor/*.conf, generated nginx sites,
// .dockerignore and README.md, beside the app's files in app/.
//
// Analyze is pure: it reads the app only through an fs.FS and returns a
// Plan in which every choice carries its Evidence (file and line, or a named
// default). Render turns a plan and the base image's content digest into
// bytes. Stage and Context.Write are the I/O side (copy or extract the app,
// put the finished context in place); the CLI wires them.
//
// Detectors run in a fixed order; the first primary one that matches
// (springboot, jar, war, webapp, php, python-wsgi, node, start-script,
// static) decides the base image and how the app starts. The others
// (systemd, initscript, cron, logs, ports) add to it. Every detector reports
// what it looked for and why it matched or not; an app no primary or service
// detector knows is an *UnknownError carrying that report.
//
// The output is the contract with fatbox's image builder: FROM
// name@sha256:digest, COPY, RUN (shell form), EXPOSE, LABEL, WORKDIR; one
// `apt-get install` line the builder prefetches offline; programs as
// standard [program:x] files copied to /etc/supervisor/conf.d/; LABELs
// io.fatbox.app, io.fatbox.port (all ports, lowest first, comma-separated)
// and io.fatbox.generated-by.
//
// Hazards:
//   - Determinism: walks are lexical (fs.WalkDir), maps are used for
//     look-ups only, and dependencies from package.json and composer.json
//     are sorted before use. A new field of Plan must keep it map-free.
//   - Unit files are parsed with baseimages/units, the shim's own rules, so
//     a unit the shim would refuse is a finding here. Its Loader reads
//     specifier context (/etc/machine-id, /etc/os-release) under Root: Root
//     names a path that does not exist and the values are fixed, so nothing
//     of the host leaks into the plan.
//   - WARs and jars are read whole into memory (a zip needs random access);
//     a 200 MB fat jar costs 200 MB while it is analysed.
//   - Ports are found by patterns (config keys, listen directives, --port
//     and -p in scripts): a port a script only connects to can be taken for
//     a listening one. The evidence shows where each came from; the port
//     list is only EXPOSE and the label, the app listens where it does.
//   - An app that ships systemd units or init scripts is started by them
//     (installed and enabled as systemctl enable and update-rc.d would);
//     the runtime detectors then add no supervisord program, so nothing
//     starts twice.
//   - A single webapp is deployed as Tomcat's ROOT (served at /), and
//     Debian's ROOT page removed; several keep their names.
//   - The middleware programs (tomcat, nginx, php-fpm) replace the base
//     image's programs of the same name with autostart=true; they must match
//     the recipes (TestMiddlewareMatchesRecipes).
//   - Requirements with neither a Debian package (debian.tsv) nor a shipped
//     wheel or vendored directory become findings: the image build has no
//     network, and the generator never writes a registry install. Wheels
//     install with pip --break-system-packages into Debian's Python
//     (PEP 668), which is what an app on a VM did.
package appgen

package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/fatbox/fatbox/engine/daemon"
)

func newDaemonCmd() *cobra.Command {
	var (
		configFile string
		flags      daemon.Config
		gw         daemon.GatewayConfig
	)
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "run the fatbox host agent (REST API on a unix socket)",
		Long: `Run the fatbox host agent. Settings come from the built-in defaults, then the
config file (YAML, default /etc/fatbox/fatbox.yaml, may be absent), then flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := daemon.LoadFile(configFile, cmd.Flags().Changed("config"), daemon.Defaults())
			if err != nil {
				return err
			}
			// cobra's root --socket is shared with clients; the daemon listens on it.
			if f := cmd.Flags().Lookup("socket"); f != nil && f.Changed {
				cfg.Socket = f.Value.String()
			}
			if cmd.Flags().Changed("state-dir") {
				cfg.StateDir = flags.StateDir
			}
			if cmd.Flags().Changed("store") {
				cfg.Store = flags.Store
			}
			if cmd.Flags().Changed("node") {
				cfg.Node = flags.Node
			}
			if cmd.Flags().Changed("supervisord") {
				cfg.Supervisord = flags.Supervisord
			}
			if cmd.Flags().Changed("vmshim") {
				cfg.VMShim = flags.VMShim
			}
			if cmd.Flags().Changed("image-cache") {
				cfg.ImageCache = flags.ImageCache
			}
			if cmd.Flags().Changed("metrics-listen") {
				cfg.MetricsListen = flags.MetricsListen
			}
			if cmd.Flags().Changed("file-sd") {
				cfg.FileSD = flags.FileSD
			}
			if cmd.Flags().Changed("gateway-listen") || cmd.Flags().Changed("gateway-config-dir") {
				if cfg.Gateway == nil {
					cfg.Gateway = &daemon.GatewayConfig{}
				}
				if cmd.Flags().Changed("gateway-listen") {
					cfg.Gateway.Listen = gw.Listen
				}
				if cmd.Flags().Changed("gateway-config-dir") {
					cfg.Gateway.ConfigDir = gw.ConfigDir
				}
			}
			return runDaemon(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", daemon.DefaultConfigFile, "config file (YAML)")
	cmd.Flags().StringVar(&flags.StateDir, "state-dir", "/var/lib/fatbox", "state directory")
	cmd.Flags().StringVar(&flags.Store, "store", "embedded", "state store URL: embedded, bolt:///path/state.db or consul://host:port/prefix")
	cmd.Flags().StringVar(&flags.Node, "node", "", "this host's name in the store (default: the hostname)")
	cmd.Flags().StringVar(&flags.Supervisord, "supervisord", "", "static supervisord binary injected into containers (default: next to fatbox)")
	cmd.Flags().StringVar(&flags.VMShim, "vmshim", "", "static vmshim binary (systemctl, service, reboot inside containers) injected into containers (default: next to the supervisord binary)")
	cmd.Flags().StringVar(&flags.ImageCache, "image-cache", "/var/cache/fatbox/images", "where built image tarballs are cached by recipe key")
	cmd.Flags().StringVar(&flags.MetricsListen, "metrics-listen", daemon.DefaultMetricsListen, `host:port of the Prometheus endpoint (GET /metrics); "off": none`)
	cmd.Flags().StringVar(&flags.FileSD, "file-sd", "", "Prometheus file_sd targets file to keep: ip:port of each running container created with --exporter-port (default none)")
	cmd.Flags().StringVar(&gw.Listen, "gateway-listen", "", "run the SSH gateway on host:port (e.g. 0.0.0.0:2222); default: as the config's gateway section, none without one")
	cmd.Flags().StringVar(&gw.ConfigDir, "gateway-config-dir", "", "the SSH gateway's config dir holding access.yaml (default "+daemon.DefaultGatewayConfigDir+"); turns the gateway on")
	return cmd
}

func runDaemon(ctx context.Context, cfg daemon.Config) error {
	if ctx == nil {
		ctx = context.Background()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d, err := daemon.New(ctx, cfg, version, log)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Serve(ctx)
}

module github.com/fatbox/fatbox/tools/supervisord

go 1.26

require github.com/ochinchina/supervisord v0.7.3

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.1.1 // indirect
	github.com/golang/protobuf v1.5.2 // indirect
	github.com/gorilla/mux v1.8.0 // indirect
	github.com/gorilla/rpc v1.2.0 // indirect
	github.com/jessevdk/go-flags v1.5.0 // indirect
	github.com/kardianos/osext v0.0.0-20190222173326-2bc1f35cddc0 // indirect
	github.com/kardianos/service v1.2.0 // indirect
	github.com/matttproud/golang_protobuf_extensions v1.0.1 // indirect
	github.com/ochinchina/filechangemonitor v0.3.1 // indirect
	github.com/ochinchina/go-daemon v0.1.5 // indirect
	github.com/ochinchina/go-ini v1.0.1 // indirect
	github.com/ochinchina/go-reaper v0.0.0-20181016012355-6b11389e79fc // indirect
	github.com/ochinchina/gorilla-xmlrpc v0.0.0-20171012055324-ecf2fe693a2c // indirect
	github.com/ochinchina/supervisord/config v0.0.0-20210503132557-74b0760cc12e // indirect
	github.com/ochinchina/supervisord/events v0.0.0-20210503132557-74b0760cc12e // indirect
	github.com/ochinchina/supervisord/faults v0.0.0-20210503132557-74b0760cc12e // indirect
	github.com/ochinchina/supervisord/logger v0.0.0-20210503132557-74b0760cc12e // indirect
	github.com/ochinchina/supervisord/process v0.0.0-20210503132557-74b0760cc12e // indirect
	github.com/ochinchina/supervisord/signals v0.0.0-20210503132557-74b0760cc12e // indirect
	github.com/ochinchina/supervisord/types v0.0.0-20210503132557-74b0760cc12e // indirect
	github.com/ochinchina/supervisord/util v0.0.0-20210503132557-74b0760cc12e // indirect
	github.com/ochinchina/supervisord/xmlrpcclient v0.0.0-20210503132557-74b0760cc12e // indirect
	github.com/prometheus/client_golang v1.10.0 // indirect
	github.com/prometheus/client_model v0.2.0 // indirect
	github.com/prometheus/common v0.23.0 // indirect
	github.com/prometheus/procfs v0.6.0 // indirect
	github.com/robfig/cron/v3 v3.0.1 // indirect
	github.com/rogpeppe/go-charset v0.0.0-20190617161244-0dc95cdf6f31 // indirect
	github.com/sirupsen/logrus v1.8.1 // indirect
	golang.org/x/sys v0.0.0-20210503080704-8803ae5d1324 // indirect
	google.golang.org/protobuf v1.26.0 // indirect
)

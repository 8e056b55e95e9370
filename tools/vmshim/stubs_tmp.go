package main

func (s *shim) initMain(args []string) int                { return 1 }
func (s *shim) runUnit(args []string) int                 { return 1 }
func (s *shim) setTimerActive(t target, on bool) *exitErr { return nil }
func (s *shim) listTimers(names []string, o sysOpts) int  { return 0 }

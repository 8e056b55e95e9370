package units

import "strings"

// Directive classification. Supported directives are handled in parse.go;
// this file lists the ones accepted but not enforced (they become
// Unit.Notes) with the reason given to the user.

// notedReason returns why a directive is accepted but not enforced, or "" if
// the directive is not in the noted set.
func notedReason(section, key string) string {
	switch section {
	case "Service":
		switch {
		case isSandbox(key):
			return "the container is the sandbox"
		case isResource(key):
			return "resource control belongs to the fat container (set it with fatbox)"
		case isScheduling(key):
			return "scheduling settings are not applied"
		case isLogging(key):
			return "output goes to the unit's log as is"
		}
		switch key {
		case "WatchdogSec", "WatchdogSignal":
			return "no watchdog pings are checked"
		case "RuntimeMaxSec", "RuntimeRandomizedExtraSec":
			return "the service is not stopped after a maximum run time"
		case "TimeoutAbortSec", "TimeoutCleanSec":
			return "the shim uses TimeoutStopSec="
		case "StartLimitIntervalSec", "StartLimitInterval", "StartLimitBurst", "StartLimitAction":
			return "restarts are not rate-limited"
		case "RestartSteps", "RestartMaxDelaySec":
			return "restarts wait RestartSec= every time"
		case "FileDescriptorStoreMax", "FileDescriptorStorePreserve", "NonBlocking":
			return "there is no file descriptor store"
		case "USBFunctionDescriptors", "USBFunctionStrings":
			return "there is no USB gadget support"
		case "OOMPolicy", "ExitType", "RebootArgument", "Personality", "SetLoginEnvironment",
			"TTYReset", "TTYVHangup", "TTYVTDisallocate", "UtmpIdentifier", "UtmpMode", "FailureAction", "SuccessAction",
			"ReloadSignal", "CoredumpReceive", "TTYColumns", "TTYRows", "RootDirectoryStartOnly",
			"TimeoutStartFailureMode", "TimeoutStopFailureMode":
			return "it has no effect in a fat container"
		case "BusPolicy", "NetClass", "SysVStartPriority":
			return "it is obsolete and ignored"
		}
	case "Unit":
		switch key {
		case "StartLimitIntervalSec", "StartLimitInterval", "StartLimitBurst":
			return "restarts are not rate-limited"
		case "FailureAction", "SuccessAction", "FailureActionExitStatus", "SuccessActionExitStatus", "JobTimeoutAction", "StartLimitAction":
			return "the container is not rebooted or stopped when the unit ends (run reboot or poweroff)"
		case "JobTimeoutSec", "JobRunningTimeoutSec", "JobTimeoutRebootArgument",
			"RebootArgument", "StopWhenUnneeded", "AllowIsolate", "IgnoreOnIsolate", "CollectMode",
			"OnFailureJobMode", "SurviveFinalKillSignal", "OnFailureIsolate", "OnSuccessJobMode":
			return "it has no effect in a fat container"
		case "IgnoreOnSnapshot":
			return "it is obsolete and ignored"
		}
	case "Install":
		switch key {
		case "UpheldBy":
			return "Upholds= dependencies are not enforced"
		}
	case "Timer":
		switch key {
		case "WakeSystem":
			return "a container cannot wake the system"
		case "OnClockChange", "OnTimezoneChange":
			return "clock and timezone changes are not watched"
		}
	}
	return ""
}

func isSandbox(k string) bool {
	switch k {
	case "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateNetwork", "PrivateUsers",
		"PrivateMounts", "PrivateIPC", "PrivatePIDs", "NoNewPrivileges", "CapabilityBoundingSet",
		"AmbientCapabilities", "Capabilities", "SecureBits", "ReadWritePaths", "ReadOnlyPaths",
		"InaccessiblePaths", "ExecPaths", "NoExecPaths", "ReadWriteDirectories", "ReadOnlyDirectories",
		"InaccessibleDirectories", "BindPaths", "BindReadOnlyPaths", "TemporaryFileSystem",
		"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
		"ProtectClock", "ProtectHostname", "ProtectProc", "ProcSubset", "RestrictAddressFamilies",
		"RestrictNamespaces", "RestrictFileSystems", "RestrictNetworkInterfaces", "SystemCallFilter",
		"SystemCallArchitectures", "SystemCallErrorNumber", "SystemCallLog", "LockPersonality",
		"MemoryDenyWriteExecute", "RestrictRealtime", "RestrictSUIDSGID", "RemoveIPC", "KeyringMode",
		"NetworkNamespacePath", "IPCNamespacePath", "MountFlags", "MountAPIVFS", "SELinuxContext",
		"AppArmorProfile", "SmackProcessLabel", "IPAddressDeny", "IPAddressAllow", "IPIngressFilterPath",
		"IPEgressFilterPath", "SocketBindAllow", "SocketBindDeny", "PrivateTmpEx", "ProtectHostnameEx",
		"NFTSet", "BPFProgram", "MemoryKSM", "RestrictIPCNamespace":
		return true
	}
	return false
}

func isResource(k string) bool {
	switch k {
	case "TasksMax", "TasksAccounting", "MemoryMax", "MemoryLimit", "MemoryHigh", "MemoryLow", "MemoryMin",
		"MemorySwapMax", "MemoryZSwapMax", "MemoryAccounting", "CPUQuota", "CPUQuotaPeriodSec", "CPUWeight",
		"StartupCPUWeight", "CPUShares", "StartupCPUShares", "CPUAccounting", "AllowedCPUs",
		"StartupAllowedCPUs", "AllowedMemoryNodes", "StartupAllowedMemoryNodes", "IOWeight",
		"StartupIOWeight", "IODeviceWeight", "IODeviceLatencyTargetSec", "IOReadBandwidthMax",
		"IOWriteBandwidthMax", "IOReadIOPSMax", "IOWriteIOPSMax", "IOAccounting", "BlockIOWeight",
		"StartupBlockIOWeight", "BlockIOAccounting", "BlockIODeviceWeight", "BlockIOReadBandwidth",
		"BlockIOWriteBandwidth", "IPAccounting", "Slice", "Delegate", "DelegateSubgroup",
		"ManagedOOMSwap", "ManagedOOMMemoryPressure", "ManagedOOMMemoryPressureLimit",
		"ManagedOOMPreference", "OOMScoreAdjust", "DevicePolicy", "DeviceAllow", "DisableControllers",
		"CoredumpFilter", "MemoryPressureWatch", "MemoryPressureThresholdSec", "DefaultMemoryLow", "DefaultMemoryMin":
		return true
	}
	return false
}

func isScheduling(k string) bool {
	switch k {
	case "IOSchedulingClass", "IOSchedulingPriority", "CPUSchedulingPolicy", "CPUSchedulingPriority",
		"CPUSchedulingResetOnFork", "CPUAffinity", "NUMAPolicy", "NUMAMask", "TimerSlackNSec":
		return true
	}
	return false
}

func isLogging(k string) bool {
	switch k {
	case "SyslogFacility", "SyslogLevel", "SyslogLevelPrefix", "LogLevelMax", "LogExtraFields",
		"LogRateLimitIntervalSec", "LogRateLimitBurst", "LogFilterPatterns", "LogNamespace":
		return true
	}
	return false
}

// dependencyDirective reports [Unit] directives that name other units to
// start or stop together; they are recorded, and noted unless they only name
// targets (targets mean nothing inside a fat container).
func dependencyDirective(k string) bool {
	switch k {
	case "Wants", "Requires", "Requisite", "BindsTo", "PartOf", "Upholds", "Conflicts", "OnFailure",
		"OnSuccess", "PropagatesReloadTo", "ReloadPropagatedFrom", "PropagatesStopTo", "StopPropagatedFrom",
		"JoinsNamespaceOf", "BindTo", "PropagateReloadTo", "PropagateReloadFrom", "RequiresOverridable",
		"RequisiteOverridable":
		return true
	}
	return false
}

// conditionKind reports whether k (after the Condition/Assert prefix) is a known condition.
func conditionKind(k string) bool {
	switch k {
	case "Architecture", "Firmware", "Virtualization", "Host", "KernelCommandLine", "KernelVersion",
		"Credential", "Environment", "Security", "Capability", "ACPower", "NeedsUpdate", "FirstBoot",
		"PathExists", "PathExistsGlob", "PathIsDirectory", "PathIsSymbolicLink", "PathIsMountPoint",
		"PathIsReadWrite", "PathIsEncrypted", "DirectoryNotEmpty", "FileNotEmpty", "FileIsExecutable",
		"User", "Group", "ControlGroupController", "Memory", "CPUs", "CPUFeature", "OSRelease",
		"MemoryPressure", "CPUPressure", "IOPressure":
		return true
	}
	return false
}

func pathCondition(k string) bool {
	return strings.HasPrefix(k, "Path") || k == "DirectoryNotEmpty" || k == "FileNotEmpty" || k == "FileIsExecutable" || k == "NeedsUpdate"
}

-- fatbox's billing table: one row per container per period (an hour by
-- default), written exactly once (see cmdbsync/billing.go for the policy of
-- each figure). Billing migrations are numbered from 1001 and share
-- fatbox_schema_migrations with the CMDB's default schema.
CREATE TABLE IF NOT EXISTS fatbox_billing (
  container_id     VARCHAR(64)     NOT NULL COMMENT 'the container id (UUID): kept across renames, never reused',
  period_start     DATETIME        NOT NULL COMMENT 'UTC',
  period_end       DATETIME        NOT NULL COMMENT 'UTC, exclusive',
  name             VARCHAR(63)     NOT NULL COMMENT 'its name in the period (the last one)',
  vcpu_hours       DECIMAL(18,6)   NOT NULL COMMENT 'CPU quota x hours running',
  memory_gib_hours DECIMAL(18,6)   NOT NULL COMMENT 'memory limit in GiB x hours running',
  disk_gib_hours   DECIMAL(18,6)   NOT NULL COMMENT 'disk size in GiB x hours existing (running or stopped)',
  cpu_seconds      DECIMAL(20,6)   NOT NULL COMMENT 'CPU time used',
  net_bytes_in     BIGINT UNSIGNED NOT NULL COMMENT 'bytes to the container',
  net_bytes_out    BIGINT UNSIGNED NOT NULL COMMENT 'bytes from the container',
  late             BOOLEAN         NOT NULL COMMENT 'holds usage that accrued unobserved before the period',
  billed_at        DATETIME(6)     NOT NULL,
  PRIMARY KEY (container_id, period_start),
  KEY fatbox_billing_period (period_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The watermark: per billing target, the end of the last period billed,
-- written in the transaction of that period's rows.
CREATE TABLE IF NOT EXISTS fatbox_billing_watermark (
  target         VARCHAR(64)  NOT NULL,
  period_end     DATETIME     NOT NULL COMMENT 'UTC: every period before it is billed',
  period_seconds INT UNSIGNED NOT NULL,
  updated_at     DATETIME(6)  NOT NULL,
  PRIMARY KEY (target)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

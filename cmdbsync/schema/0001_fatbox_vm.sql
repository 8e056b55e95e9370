-- fatbox's own VM table, for a company without a CMDB: one row per container
-- that ever ran, keyed by its stable id, never deleted (a removed container's
-- row is marked decommissioned with its time). The default mapping
-- (default_mapping.yaml) fills it.
CREATE TABLE IF NOT EXISTS fatbox_vm (
  id                CHAR(36)          NOT NULL COMMENT 'the container id (UUID): kept across renames, never reused',
  name              VARCHAR(63)       NOT NULL,
  hostname          VARCHAR(63)       NOT NULL,
  ip                VARCHAR(15)       NULL,
  mac               VARCHAR(17)       NULL,
  node              VARCHAR(64)       NULL COMMENT 'the host it runs on',
  pool              VARCHAR(15)       NULL,
  image             VARCHAR(255)      NULL,
  vcpus             SMALLINT UNSIGNED NOT NULL,
  cpus              DECIMAL(6,2)      NOT NULL COMMENT 'the CPU quota',
  memory_mib        INT UNSIGNED      NOT NULL,
  disk_mib          INT UNSIGNED      NOT NULL,
  swap_mib          INT UNSIGNED      NOT NULL DEFAULT 0,
  owner             VARCHAR(128)      NULL,
  app               VARCHAR(128)      NULL,
  env               VARCHAR(128)      NULL,
  labels            JSON              NULL,
  status            ENUM('running','stopped','decommissioned') NOT NULL,
  created_at        DATETIME(6)       NOT NULL,
  changed_at        DATETIME(6)       NOT NULL COMMENT 'the time of its last event',
  decommissioned_at DATETIME(6)       NULL,
  PRIMARY KEY (id),
  KEY fatbox_vm_name (name),
  KEY fatbox_vm_ip (ip),
  KEY fatbox_vm_status (status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Users for the compose stack (MySQL 8.4). The daemon's user has only what
-- it needs: REPLICATION SLAVE + REPLICATION CLIENT to read the binlog, SELECT
-- to read INFORMATION_SCHEMA.COLUMNS of the mapped tables.
CREATE USER IF NOT EXISTS 'sluice'@'%' IDENTIFIED BY 'sluice-secret';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'sluice'@'%';
CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app-secret';
GRANT ALL PRIVILEGES ON `app`.* TO 'app'@'%';

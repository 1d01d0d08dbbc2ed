-- Demo schema for Sluice (config/sluice.yaml maps app.users and app.messages).
-- Idempotent: safe to load again (CREATE ... IF NOT EXISTS, INSERT IGNORE).
-- Load with: mariadb --default-character-set=utf8mb4 ... < config/schema.sql

CREATE DATABASE IF NOT EXISTS app CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE app;

CREATE TABLE IF NOT EXISTS users (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  email VARCHAR(255),
  name VARCHAR(255),
  created_at DATETIME(3) DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uq_users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS messages (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  chat_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  body TEXT,
  created_at DATETIME(3) DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_messages_chat (chat_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO users (id, email, name, created_at) VALUES
  (1, 'ada@example.com', 'Ada Lovelace', '2024-01-01 09:01:00.000'),
  (2, 'alan@example.com', 'Alan Turing', '2024-01-01 09:02:00.000'),
  (3, 'grace@example.com', 'Grace Hopper', '2024-01-01 09:03:00.000'),
  (4, 'edsger@example.com', 'Edsger Dijkstra', '2024-01-01 09:04:00.000'),
  (5, 'barbara@example.com', 'Barbara Liskov', '2024-01-01 09:05:00.000'),
  (6, 'donald@example.com', 'Donald Knuth', '2024-01-01 09:06:00.000'),
  (7, 'margaret@example.com', 'Margaret Hamilton', '2024-01-01 09:07:00.000'),
  (8, 'ken@example.com', 'Ken Thompson', '2024-01-01 09:08:00.000'),
  (9, 'frances@example.com', 'Frances Allen', '2024-01-01 09:09:00.000'),
  (10, 'linus@example.com', 'Linus 🐧 Torvalds', '2024-01-01 09:10:00.000');

INSERT IGNORE INTO messages (id, chat_id, user_id, body, created_at) VALUES
  (1, 1, 1, 'has anyone seen the release notes?', '2024-01-02 10:01:00.000'),
  (2, 2, 4, 'the cache was stale again 😅', '2024-01-02 10:02:00.000'),
  (3, 3, 8, 'not since sluice, it was not', '2024-01-02 10:03:00.000'),
  (4, 1, 2, 'the cache was stale again 😅', '2024-01-02 10:04:00.000'),
  (5, 2, 5, 'not since sluice, it was not', '2024-01-02 10:05:00.000'),
  (6, 3, 9, 'lunch at noon?', '2024-01-02 10:06:00.000'),
  (7, 1, 3, 'not since sluice, it was not', '2024-01-02 10:07:00.000'),
  (8, 2, 6, 'lunch at noon?', '2024-01-02 10:08:00.000'),
  (9, 3, 10, '👍', '2024-01-02 10:09:00.000'),
  (10, 1, 1, 'lunch at noon?', '2024-01-02 10:10:00.000'),
  (11, 2, 7, '👍', '2024-01-02 10:11:00.000'),
  (12, 3, 1, 'pushed the fix', '2024-01-02 10:12:00.000'),
  (13, 1, 2, '👍', '2024-01-02 10:13:00.000'),
  (14, 2, 4, 'pushed the fix', '2024-01-02 10:14:00.000'),
  (15, 3, 8, 'reviewing now', '2024-01-02 10:15:00.000'),
  (16, 1, 3, 'pushed the fix', '2024-01-02 10:16:00.000'),
  (17, 2, 5, 'reviewing now', '2024-01-02 10:17:00.000'),
  (18, 3, 9, 'LGTM', '2024-01-02 10:18:00.000'),
  (19, 1, 1, 'reviewing now', '2024-01-02 10:19:00.000'),
  (20, 2, 6, 'LGTM', '2024-01-02 10:20:00.000'),
  (21, 3, 10, 'shipping it 🚀', '2024-01-02 10:21:00.000'),
  (22, 1, 2, 'LGTM', '2024-01-02 10:22:00.000'),
  (23, 2, 7, 'shipping it 🚀', '2024-01-02 10:23:00.000'),
  (24, 3, 1, 'hello everyone', '2024-01-02 10:24:00.000'),
  (25, 1, 3, 'shipping it 🚀', '2024-01-02 10:25:00.000'),
  (26, 2, 4, 'hello everyone', '2024-01-02 10:26:00.000'),
  (27, 3, 8, 'has anyone seen the release notes?', '2024-01-02 10:27:00.000'),
  (28, 1, 1, 'hello everyone', '2024-01-02 10:28:00.000'),
  (29, 2, 5, 'has anyone seen the release notes?', '2024-01-02 10:29:00.000'),
  (30, 3, 9, 'the cache was stale again 😅', '2024-01-02 10:30:00.000');

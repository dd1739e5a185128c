--
-- PostgreSQL database dump
--

\restrict EKagZUnzjIsosunivHo7sErFnd1C6b2gxfu7mdEvE5lzP4g6cSn8qw5RFebbOSF

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: clawfleet_b1fbd52; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA clawfleet_b1fbd52;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: access_grants; Type: TABLE; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE TABLE clawfleet_b1fbd52.access_grants (
    hash character varying(64) NOT NULL,
    tenant_id character varying(80) NOT NULL,
    user_id character varying(128) NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    created_at timestamp with time zone
);


--
-- Name: audit_events; Type: TABLE; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE TABLE clawfleet_b1fbd52.audit_events (
    id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    actor character varying(255) NOT NULL,
    action character varying(64) NOT NULL,
    target character varying(255),
    detail character varying(1024)
);


--
-- Name: audit_events_id_seq; Type: SEQUENCE; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE SEQUENCE clawfleet_b1fbd52.audit_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: audit_events_id_seq; Type: SEQUENCE OWNED BY; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER SEQUENCE clawfleet_b1fbd52.audit_events_id_seq OWNED BY clawfleet_b1fbd52.audit_events.id;


--
-- Name: enrollment_tokens; Type: TABLE; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE TABLE clawfleet_b1fbd52.enrollment_tokens (
    id character varying(40) NOT NULL,
    hash character varying(64) NOT NULL,
    labels text,
    uses_total bigint NOT NULL,
    uses_left bigint NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    last_used_at timestamp with time zone,
    created_by character varying(255),
    created_at timestamp with time zone
);


--
-- Name: host_desireds; Type: TABLE; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE TABLE clawfleet_b1fbd52.host_desireds (
    host_id character varying(80) NOT NULL,
    revision bigint DEFAULT 0 NOT NULL,
    acked_revision bigint DEFAULT 0 NOT NULL,
    purge text,
    updated_at timestamp with time zone
);


--
-- Name: hosts; Type: TABLE; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE TABLE clawfleet_b1fbd52.hosts (
    id character varying(80) NOT NULL,
    name character varying(255),
    secret_hash character varying(64) NOT NULL,
    status character varying(16) NOT NULL,
    last_heartbeat timestamp with time zone,
    registered_at timestamp with time zone,
    hostname character varying(255),
    agent_version character varying(64),
    os character varying(32),
    arch character varying(32),
    cpus bigint DEFAULT 0 NOT NULL,
    mem_total_bytes bigint DEFAULT 0 NOT NULL,
    wg_public_key character varying(64),
    labels text,
    capabilities text,
    metrics text,
    enrolled_with character varying(40),
    created_at timestamp with time zone,
    updated_at timestamp with time zone
);


--
-- Name: router_sessions; Type: TABLE; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE TABLE clawfleet_b1fbd52.router_sessions (
    hash character varying(64) NOT NULL,
    tenant_id character varying(80) NOT NULL,
    user_id character varying(128) NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone,
    revoked_at timestamp with time zone,
    remote_addr character varying(64)
);


--
-- Name: settings; Type: TABLE; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE TABLE clawfleet_b1fbd52.settings (
    key character varying(64) NOT NULL,
    value character varying(1024) NOT NULL,
    updated_at timestamp with time zone
);


--
-- Name: tenants; Type: TABLE; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE TABLE clawfleet_b1fbd52.tenants (
    id character varying(80) NOT NULL,
    slug character varying(63) NOT NULL,
    owner_id character varying(128) NOT NULL,
    owner_email character varying(254),
    name character varying(255),
    plan character varying(32) NOT NULL,
    status character varying(16) NOT NULL,
    desired_state character varying(16) NOT NULL,
    restart_gen bigint DEFAULT 0 NOT NULL,
    host_id character varying(80) NOT NULL,
    port bigint NOT NULL,
    gateway_token_enc character varying(512) NOT NULL,
    cpu_millis bigint NOT NULL,
    memory_bytes bigint NOT NULL,
    disk_bytes bigint NOT NULL,
    pids_limit bigint NOT NULL,
    image character varying(255),
    published_rev bigint DEFAULT 0 NOT NULL,
    last_error character varying(2048),
    running_at timestamp with time zone,
    created_at timestamp with time zone,
    updated_at timestamp with time zone
);


--
-- Name: tunnel_addresses; Type: TABLE; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE TABLE clawfleet_b1fbd52.tunnel_addresses (
    id bigint NOT NULL,
    host_id character varying(80) NOT NULL,
    address character varying(64) NOT NULL,
    allocated_at timestamp with time zone NOT NULL,
    released_at timestamp with time zone
);


--
-- Name: tunnel_addresses_id_seq; Type: SEQUENCE; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE SEQUENCE clawfleet_b1fbd52.tunnel_addresses_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: tunnel_addresses_id_seq; Type: SEQUENCE OWNED BY; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER SEQUENCE clawfleet_b1fbd52.tunnel_addresses_id_seq OWNED BY clawfleet_b1fbd52.tunnel_addresses.id;


--
-- Name: audit_events id; Type: DEFAULT; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER TABLE ONLY clawfleet_b1fbd52.audit_events ALTER COLUMN id SET DEFAULT nextval('clawfleet_b1fbd52.audit_events_id_seq'::regclass);


--
-- Name: tunnel_addresses id; Type: DEFAULT; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER TABLE ONLY clawfleet_b1fbd52.tunnel_addresses ALTER COLUMN id SET DEFAULT nextval('clawfleet_b1fbd52.tunnel_addresses_id_seq'::regclass);


--
-- Data for Name: access_grants; Type: TABLE DATA; Schema: clawfleet_b1fbd52; Owner: -
--

INSERT INTO clawfleet_b1fbd52.access_grants (hash, tenant_id, user_id, expires_at, used_at, created_at) VALUES ('6666666666666666666666666666666666666666666666666666666666666666', 'ten_bbbbbbbbbbbb', 'user-b', '2026-11-26 12:10:00+00', NULL, '2026-12-03 07:54:34.663958+00');
INSERT INTO clawfleet_b1fbd52.access_grants (hash, tenant_id, user_id, expires_at, used_at, created_at) VALUES ('5555555555555555555555555555555555555555555555555555555555555555', 'ten_aaaaaaaaaaaa', 'user-a', '2026-11-26 12:10:00+00', '2026-11-26 12:01:00+00', '2026-12-03 07:54:34.663121+00');


--
-- Data for Name: audit_events; Type: TABLE DATA; Schema: clawfleet_b1fbd52; Owner: -
--

INSERT INTO clawfleet_b1fbd52.audit_events (id, at, actor, action, target, detail) VALUES (1, '2026-11-26 12:00:00+00', 'admin', 'token.create', 't', 'fixture');
INSERT INTO clawfleet_b1fbd52.audit_events (id, at, actor, action, target, detail) VALUES (2, '2026-11-26 12:00:01+00', 'admin', 'host.enroll', 't', 'fixture');
INSERT INTO clawfleet_b1fbd52.audit_events (id, at, actor, action, target, detail) VALUES (3, '2026-11-26 12:00:02+00', 'admin', 'tenant.create', 't', 'fixture');


--
-- Data for Name: enrollment_tokens; Type: TABLE DATA; Schema: clawfleet_b1fbd52; Owner: -
--

INSERT INTO clawfleet_b1fbd52.enrollment_tokens (id, hash, labels, uses_total, uses_left, expires_at, revoked_at, last_used_at, created_by, created_at) VALUES ('tok_bbbbbbbbbbbb', '2222222222222222222222222222222222222222222222222222222222222222', NULL, 1, 1, '2026-11-26 13:00:00+00', '2026-11-26 12:01:00+00', NULL, 'admin', '2026-12-03 07:54:34.629903+00');
INSERT INTO clawfleet_b1fbd52.enrollment_tokens (id, hash, labels, uses_total, uses_left, expires_at, revoked_at, last_used_at, created_by, created_at) VALUES ('tok_aaaaaaaaaaaa', '1111111111111111111111111111111111111111111111111111111111111111', '{"zone":"a"}', 3, 2, '2026-11-27 12:00:00+00', NULL, '2026-11-26 12:00:00+00', 'admin', '2026-12-03 07:54:34.62884+00');


--
-- Data for Name: host_desireds; Type: TABLE DATA; Schema: clawfleet_b1fbd52; Owner: -
--

INSERT INTO clawfleet_b1fbd52.host_desireds (host_id, revision, acked_revision, purge, updated_at) VALUES ('dev_host00000001', 2, 1, '["ten_dddddddddddd"]', '2026-12-03 07:54:34.658761+00');


--
-- Data for Name: hosts; Type: TABLE DATA; Schema: clawfleet_b1fbd52; Owner: -
--

INSERT INTO clawfleet_b1fbd52.hosts (id, name, secret_hash, status, last_heartbeat, registered_at, hostname, agent_version, os, arch, cpus, mem_total_bytes, wg_public_key, labels, capabilities, metrics, enrolled_with, created_at, updated_at) VALUES ('dev_host00000001', 'worker-1', '3333333333333333333333333333333333333333333333333333333333333333', 'online', '2026-11-26 12:01:00+00', '2026-11-26 12:00:01+00', 'worker-1.example', '0.1.0', 'linux', 'amd64', 4, 8589934592, 'pubkey-1', '{"zone":"a"}', '{"docker":true,"wireguardModes":["kernel"],"runtimes":["docker","process"]}', '{"cpuPercent":12.5,"memUsedBytes":1073741824,"memTotalBytes":0,"diskUsedBytes":0,"diskTotalBytes":0,"load1":0,"load5":0,"load15":0,"uptimeSeconds":0}', 'tok_aaaaaaaaaaaa', '2026-12-03 07:54:34.633368+00', '2026-11-26 12:01:00+00');
INSERT INTO clawfleet_b1fbd52.hosts (id, name, secret_hash, status, last_heartbeat, registered_at, hostname, agent_version, os, arch, cpus, mem_total_bytes, wg_public_key, labels, capabilities, metrics, enrolled_with, created_at, updated_at) VALUES ('dev_host00000002', 'box-2', '4444444444444444444444444444444444444444444444444444444444444444', 'pending', NULL, NULL, '', '', '', '', 0, 0, '', NULL, '{"docker":false}', '{"cpuPercent":0,"memUsedBytes":0,"memTotalBytes":0,"diskUsedBytes":0,"diskTotalBytes":0,"load1":0,"load5":0,"load15":0,"uptimeSeconds":0}', '', '2026-12-03 07:54:34.639246+00', '2026-12-03 07:54:34.639246+00');


--
-- Data for Name: router_sessions; Type: TABLE DATA; Schema: clawfleet_b1fbd52; Owner: -
--

INSERT INTO clawfleet_b1fbd52.router_sessions (hash, tenant_id, user_id, expires_at, created_at, revoked_at, remote_addr) VALUES ('7777777777777777777777777777777777777777777777777777777777777777', 'ten_aaaaaaaaaaaa', 'user-a', '2026-11-27 00:00:00+00', '2026-12-03 07:54:34.665085+00', NULL, '192.0.2.10');


--
-- Data for Name: settings; Type: TABLE DATA; Schema: clawfleet_b1fbd52; Owner: -
--

INSERT INTO clawfleet_b1fbd52.settings (key, value, updated_at) VALUES ('heartbeat_interval', '30s', '2026-12-03 07:54:34.668976+00');
INSERT INTO clawfleet_b1fbd52.settings (key, value, updated_at) VALUES ('offline_after', '90s', '2026-12-03 07:54:34.670555+00');


--
-- Data for Name: tenants; Type: TABLE DATA; Schema: clawfleet_b1fbd52; Owner: -
--

INSERT INTO clawfleet_b1fbd52.tenants (id, slug, owner_id, owner_email, name, plan, status, desired_state, restart_gen, host_id, port, gateway_token_enc, cpu_millis, memory_bytes, disk_bytes, pids_limit, image, published_rev, last_error, running_at, created_at, updated_at) VALUES ('ten_bbbbbbbbbbbb', 'bravo', 'user-b', 'user-b@example.com', 'bravo', 'small', 'pending', 'running', 0, 'dev_host00000001', 20001, 'sealed-ten_bbbbbbbbbbbb', 500, 536870912, 1073741824, 256, 'openclaw:test', 1, '', NULL, '2026-12-03 07:54:34.650565+00', '2026-12-03 07:54:34.650565+00');
INSERT INTO clawfleet_b1fbd52.tenants (id, slug, owner_id, owner_email, name, plan, status, desired_state, restart_gen, host_id, port, gateway_token_enc, cpu_millis, memory_bytes, disk_bytes, pids_limit, image, published_rev, last_error, running_at, created_at, updated_at) VALUES ('ten_aaaaaaaaaaaa', 'alpha', 'user-a', 'user-a@example.com', 'alpha', 'small', 'running', 'running', 2, 'dev_host00000001', 20000, 'sealed-ten_aaaaaaaaaaaa', 500, 536870912, 1073741824, 256, 'openclaw:test', 1, '', '2026-11-26 12:02:00+00', '2026-12-03 07:54:34.642545+00', '2026-12-03 07:54:34.651848+00');
INSERT INTO clawfleet_b1fbd52.tenants (id, slug, owner_id, owner_email, name, plan, status, desired_state, restart_gen, host_id, port, gateway_token_enc, cpu_millis, memory_bytes, disk_bytes, pids_limit, image, published_rev, last_error, running_at, created_at, updated_at) VALUES ('ten_cccccccccccc', 'charlie', 'user-c', 'user-c@example.com', 'charlie', 'small', 'failed', 'running', 0, '', 0, 'sealed-ten_cccccccccccc', 500, 536870912, 1073741824, 256, 'openclaw:test', 1, 'host deleted; no host has room', NULL, '2026-12-03 07:54:34.651301+00', '2026-12-03 07:54:34.653034+00');


--
-- Data for Name: tunnel_addresses; Type: TABLE DATA; Schema: clawfleet_b1fbd52; Owner: -
--

INSERT INTO clawfleet_b1fbd52.tunnel_addresses (id, host_id, address, allocated_at, released_at) VALUES (1, 'dev_host00000001', '100.96.0.2', '2026-12-03 07:54:34.660813+00', NULL);
INSERT INTO clawfleet_b1fbd52.tunnel_addresses (id, host_id, address, allocated_at, released_at) VALUES (2, 'dev_host00000002', '100.96.0.3', '2026-12-03 07:54:34.662049+00', '2026-12-03 07:54:34.662508+00');


--
-- Name: audit_events_id_seq; Type: SEQUENCE SET; Schema: clawfleet_b1fbd52; Owner: -
--

SELECT pg_catalog.setval('clawfleet_b1fbd52.audit_events_id_seq', 3, true);


--
-- Name: tunnel_addresses_id_seq; Type: SEQUENCE SET; Schema: clawfleet_b1fbd52; Owner: -
--

SELECT pg_catalog.setval('clawfleet_b1fbd52.tunnel_addresses_id_seq', 2, true);


--
-- Name: access_grants access_grants_pkey; Type: CONSTRAINT; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER TABLE ONLY clawfleet_b1fbd52.access_grants
    ADD CONSTRAINT access_grants_pkey PRIMARY KEY (hash);


--
-- Name: audit_events audit_events_pkey; Type: CONSTRAINT; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER TABLE ONLY clawfleet_b1fbd52.audit_events
    ADD CONSTRAINT audit_events_pkey PRIMARY KEY (id);


--
-- Name: enrollment_tokens enrollment_tokens_pkey; Type: CONSTRAINT; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER TABLE ONLY clawfleet_b1fbd52.enrollment_tokens
    ADD CONSTRAINT enrollment_tokens_pkey PRIMARY KEY (id);


--
-- Name: host_desireds host_desireds_pkey; Type: CONSTRAINT; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER TABLE ONLY clawfleet_b1fbd52.host_desireds
    ADD CONSTRAINT host_desireds_pkey PRIMARY KEY (host_id);


--
-- Name: hosts hosts_pkey; Type: CONSTRAINT; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER TABLE ONLY clawfleet_b1fbd52.hosts
    ADD CONSTRAINT hosts_pkey PRIMARY KEY (id);


--
-- Name: router_sessions router_sessions_pkey; Type: CONSTRAINT; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER TABLE ONLY clawfleet_b1fbd52.router_sessions
    ADD CONSTRAINT router_sessions_pkey PRIMARY KEY (hash);


--
-- Name: settings settings_pkey; Type: CONSTRAINT; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER TABLE ONLY clawfleet_b1fbd52.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (key);


--
-- Name: tenants tenants_pkey; Type: CONSTRAINT; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER TABLE ONLY clawfleet_b1fbd52.tenants
    ADD CONSTRAINT tenants_pkey PRIMARY KEY (id);


--
-- Name: tunnel_addresses tunnel_addresses_pkey; Type: CONSTRAINT; Schema: clawfleet_b1fbd52; Owner: -
--

ALTER TABLE ONLY clawfleet_b1fbd52.tunnel_addresses
    ADD CONSTRAINT tunnel_addresses_pkey PRIMARY KEY (id);


--
-- Name: idx_access_grants_expires_at; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE INDEX idx_access_grants_expires_at ON clawfleet_b1fbd52.access_grants USING btree (expires_at);


--
-- Name: idx_access_grants_tenant_id; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE INDEX idx_access_grants_tenant_id ON clawfleet_b1fbd52.access_grants USING btree (tenant_id);


--
-- Name: idx_audit_events_at; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE INDEX idx_audit_events_at ON clawfleet_b1fbd52.audit_events USING btree (at);


--
-- Name: idx_enrollment_tokens_hash; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE UNIQUE INDEX idx_enrollment_tokens_hash ON clawfleet_b1fbd52.enrollment_tokens USING btree (hash);


--
-- Name: idx_hosts_status; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE INDEX idx_hosts_status ON clawfleet_b1fbd52.hosts USING btree (status);


--
-- Name: idx_router_sessions_expires_at; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE INDEX idx_router_sessions_expires_at ON clawfleet_b1fbd52.router_sessions USING btree (expires_at);


--
-- Name: idx_router_sessions_tenant_id; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE INDEX idx_router_sessions_tenant_id ON clawfleet_b1fbd52.router_sessions USING btree (tenant_id);


--
-- Name: idx_tenants_owner_id; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE UNIQUE INDEX idx_tenants_owner_id ON clawfleet_b1fbd52.tenants USING btree (owner_id);


--
-- Name: idx_tenants_placed_port; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE UNIQUE INDEX idx_tenants_placed_port ON clawfleet_b1fbd52.tenants USING btree (host_id, port) WHERE ((host_id)::text <> ''::text);


--
-- Name: idx_tenants_slug; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE UNIQUE INDEX idx_tenants_slug ON clawfleet_b1fbd52.tenants USING btree (slug);


--
-- Name: idx_tenants_status; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE INDEX idx_tenants_status ON clawfleet_b1fbd52.tenants USING btree (status);


--
-- Name: idx_tunnel_addresses_address; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE UNIQUE INDEX idx_tunnel_addresses_address ON clawfleet_b1fbd52.tunnel_addresses USING btree (address);


--
-- Name: idx_tunnel_addresses_host_id; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE UNIQUE INDEX idx_tunnel_addresses_host_id ON clawfleet_b1fbd52.tunnel_addresses USING btree (host_id);


--
-- Name: idx_tunnel_addresses_released_at; Type: INDEX; Schema: clawfleet_b1fbd52; Owner: -
--

CREATE INDEX idx_tunnel_addresses_released_at ON clawfleet_b1fbd52.tunnel_addresses USING btree (released_at);


--
-- PostgreSQL database dump complete
--

\unrestrict EKagZUnzjIsosunivHo7sErFnd1C6b2gxfu7mdEvE5lzP4g6cSn8qw5RFebbOSF


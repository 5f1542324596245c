//! Tests of the Engine API client on recorded answers (lab/tests/fixtures/docker) and on a
//! fake engine listening on a unix socket.

use super::*;
use std::os::unix::net::UnixListener;
use std::thread::JoinHandle;
use std::time::UNIX_EPOCH;

const VERSION: &str = include_str!("../../tests/fixtures/docker/version.json");
const INFO: &str = include_str!("../../tests/fixtures/docker/info.json");
const STATS_ONESHOT: &str = include_str!("../../tests/fixtures/docker/stats-oneshot.json");
const INSPECT_RUNNING: &str = include_str!("../../tests/fixtures/docker/inspect-running.json");
const INSPECT_OOMKILLED: &str = include_str!("../../tests/fixtures/docker/inspect-oomkilled.json");
const EVENTS: &str = include_str!("../../tests/fixtures/docker/events.jsonl");
const RAW_INSPECT: &[u8] =
    include_bytes!("../../tests/fixtures/docker/raw-inspect-content-length.http");
const RAW_EVENTS: &[u8] = include_bytes!("../../tests/fixtures/docker/raw-events-chunked.http");
const RAW_404: &[u8] = include_bytes!("../../tests/fixtures/docker/raw-404.http");

const RUNNING_ID: &str = "d201fa874d071ca95168018478c8a54ee1b15cb2115078590f0fa340217fadf6";
const OOMER_ID: &str = "b2684f4c10ddce665e1fcabdb3368f241395fffac57bb8c1c4beb09acb6c0fa5";

// --- HTTP parsing -------------------------------------------------------------------------

#[test]
fn a_content_length_answer_keeps_exactly_its_length_of_body() {
    let response = parse_response(RAW_404).unwrap();
    assert_eq!(response.status, 404);
    assert_eq!(response.reason, "Not Found");
    assert_eq!(response.header("Content-Length"), Some("40"));
    assert_eq!(response.header("api-version"), Some("1.41"));
    assert_eq!(
        response.body,
        b"{\"message\":\"No such container: nosuch\"}\n"
    );

    let response =
        parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}garbage").unwrap();
    assert_eq!(response.body, b"{}");
}

#[test]
fn the_recorded_inspect_answer_is_chunked_and_decodes_to_the_inspect_json() {
    // Despite its file name, the engine sent this answer chunked (one chunk of 0x11b1).
    let response = parse_response(RAW_INSPECT).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.header("content-length"), None);
    assert_eq!(response.body, INSPECT_RUNNING.as_bytes());
    let state = state_from(&success(response, false).unwrap()).unwrap();
    assert_eq!(state.id, RUNNING_ID);
}

#[test]
fn the_recorded_chunked_events_stream_decodes_to_45_events() {
    let response = parse_response(RAW_EVENTS).unwrap();
    assert_eq!(response.status, 200);
    let events = events_from(&success(response, false).unwrap()).unwrap();
    assert_eq!(events.len(), 45);
    let first = &events[0];
    assert_eq!(first.action, "create");
    assert_eq!(first.name(), Some("intelligent_bardeen"));
    assert_eq!(first.time_nano, 1_795_954_117_990_616_227);
    assert_eq!(events[3].action, "die");
    assert_eq!(events[3].exit_code(), Some(0));
    let last = &events[44];
    assert_eq!(last.action, "destroy");
    assert_eq!(last.name(), Some("oomer"));
    assert_eq!(last.id, OOMER_ID);
    assert!(events.windows(2).all(|w| w[0].time_nano <= w[1].time_nano));
}

#[test]
fn a_404_becomes_an_error_with_the_status_and_the_engine_message() {
    let err = success(parse_response(RAW_404).unwrap(), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "docker engine: 404 Not Found: No such container: nosuch"
    );
    match err.downcast_ref::<DockerError>() {
        Some(DockerError::Api { status, .. }) => assert_eq!(*status, 404),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn an_error_without_a_json_message_reports_its_body_text() {
    let response = parse_response(b"HTTP/1.1 500 Internal Server Error\r\n\r\nboom\n").unwrap();
    let err = success(response, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "docker engine: 500 Internal Server Error: boom"
    );
}

#[test]
fn not_modified_is_success_only_where_asked_for() {
    let raw = b"HTTP/1.1 304 Not Modified\r\nDate: x\r\n\r\n";
    assert!(success(parse_response(raw).unwrap(), true).is_ok());
    assert!(success(parse_response(raw).unwrap(), false).is_err());
    let raw = b"HTTP/1.1 204 No Content\r\n\r\n";
    assert_eq!(success(parse_response(raw).unwrap(), true).unwrap(), b"");
}

#[test]
fn chunks_with_extensions_odd_sizes_and_trailers_decode() {
    let body = decode_chunked(
        b"4;name=value\r\nWiki\r\n5 ; x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n000;end\r\nExpires: never\r\n\r\n",
    )
    .unwrap();
    assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
    assert_eq!(decode_chunked(b"0\r\n\r\n").unwrap(), b"");
}

#[test]
fn an_event_split_across_chunks_reassembles() {
    let raw = b"HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: Chunked\r\n\r\n\
        a\r\n{\"Action\":\r\n\
        1A\r\n\"oom\",\"Actor\":{\"ID\":\"c1\"},\r\n\
        15\r\n\"timeNano\":12345}\n{}\n\r\n\
        0\r\n\r\n";
    let response = parse_response(raw).unwrap();
    let events = events_from(&response.body).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].action, "oom");
    assert_eq!(events[0].id, "c1");
    assert_eq!(events[0].time_nano, 12345);
    assert_eq!(events[1].action, "");
}

#[test]
fn truncated_or_malformed_answers_are_errors() {
    assert!(decode_chunked(b"5\r\nabc").is_err());
    assert!(decode_chunked(b"3\r\nabc").is_err());
    assert!(decode_chunked(b"3\r\nabcXY0\r\n\r\n").is_err());
    assert!(decode_chunked(b"zz\r\nabc\r\n0\r\n\r\n").is_err());
    assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").is_err());
    assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
    assert!(parse_response(b"").is_err());
    assert!(parse_response(b"HTTP/1.1 200 OK\r\nno end of headers").is_err());
    assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
}

#[test]
fn a_body_without_length_or_chunking_runs_to_the_end_of_the_stream() {
    let response =
        parse_response(b"HTTP/1.0 200 OK\r\nServer: x\r\nbogus line\r\n\r\n[1,2]\n").unwrap();
    assert_eq!(response.header("server"), Some("x"));
    assert_eq!(response.body, b"[1,2]\n");
}

#[test]
fn requests_close_the_connection_and_posts_say_their_empty_length() {
    assert_eq!(
        request_head("GET", "/info"),
        "GET /info HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        request_head("POST", "/containers/x/start"),
        "POST /containers/x/start HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\
         Content-Length: 0\r\n\r\n"
    );
}

#[test]
fn query_values_are_percent_encoded_except_unreserved_bytes() {
    assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
    assert_eq!(
        percent_encode(r#"{"label":["a=b c/é"]}"#),
        "%7B%22label%22%3A%5B%22a%3Db%20c%2F%C3%A9%22%5D%7D"
    );
}

#[test]
fn the_compose_listing_filters_on_the_project_label() {
    assert_eq!(
        compose_containers_path("bench"),
        "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22com.docker.compose.project%3Dbench%22%5D%7D"
    );
}

#[test]
fn the_events_query_carries_fractional_times_and_the_wanted_actions() {
    let since = UNIX_EPOCH + Duration::new(1_795_954_191, 5);
    let until = UNIX_EPOCH + Duration::new(1_795_954_200, 250_000_000);
    let path = events_path(since, until, &["oom", "die"]);
    assert_eq!(
        path,
        "/events?since=1795954191.000000005&until=1795954200.250000000&filters=\
         %7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22oom%22%2C%22die%22%5D%7D"
    );
    assert!(events_path(since, until, &[])
        .ends_with("filters=%7B%22type%22%3A%5B%22container%22%5D%7D"));
}

// --- JSON mapping --------------------------------------------------------------------------

#[test]
fn version_and_info_fixtures_map_to_the_engine_info() {
    let info = engine_info_from(VERSION.as_bytes(), INFO.as_bytes()).unwrap();
    assert_eq!(
        info,
        EngineInfo {
            server_version: "20.10.24+dfsg1".into(),
            api_version: "1.41".into(),
            cores: 2,
            memory_total_bytes: 25_325_268_992,
            operating_system: "Debian GNU/Linux 12 (bookworm)".into(),
            kernel_version: "6.18.44-fc-v657".into(),
            cgroup_version: Some("1".into()),
            cgroup_driver: "cgroupfs".into(),
        }
    );
    let json = serde_json::to_string(&info).unwrap();
    assert_eq!(serde_json::from_str::<EngineInfo>(&json).unwrap(), info);
}

#[test]
fn an_old_engine_that_does_not_say_its_cgroup_version_gives_none() {
    let info = engine_info_from(
        br#"{"ApiVersion":"1.39"}"#,
        br#"{"ServerVersion":"18.09.1","NCPU":4,"CgroupDriver":null}"#,
    )
    .unwrap();
    assert_eq!(info.server_version, "18.09.1");
    assert_eq!(info.api_version, "1.39");
    assert_eq!(info.cores, 4);
    assert_eq!(info.memory_total_bytes, 0);
    assert_eq!(info.cgroup_version, None);
    assert_eq!(info.cgroup_driver, "");
}

#[test]
fn the_one_shot_stats_fixture_maps_to_the_recorded_counters() {
    let stats = stats_from(STATS_ONESHOT.as_bytes()).unwrap();
    assert_eq!(
        stats,
        ContainerStats {
            read_at: Some("2026-11-29T12:09:46.431583216Z".parse().unwrap()),
            cpu_usage_ns: 1_608_097_604,
            system_cpu_ns: Some(503_480_000_000),
            online_cpus: Some(2),
            periods: 33,
            throttled_periods: 31,
            throttled_ns: 1_296_062_920,
            memory_usage_bytes: 475_136,
            memory_max_usage_bytes: Some(4_345_856),
            memory_limit_bytes: Some(104_857_600),
            inactive_file_bytes: Some(0),
        }
    );
    assert_eq!(stats.memory_working_set_bytes(), 475_136);
}

#[test]
fn cgroup_v2_stats_without_max_usage_take_inactive_file() {
    let v2 = r#"{
        "read": "2025-03-01T10:00:00.5Z",
        "cpu_stats": {
            "cpu_usage": {"total_usage": 5000, "usage_in_kernelmode": 1, "usage_in_usermode": 2},
            "system_cpu_usage": 900000,
            "online_cpus": 8,
            "throttling_data": {"periods": 10, "throttled_periods": 4, "throttled_time": 777}
        },
        "memory_stats": {
            "usage": 3000000,
            "stats": {"anon": 1000000, "file": 2000000, "inactive_file": 1500000, "oom_kill": 0},
            "limit": 268435456
        }
    }"#;
    let stats = stats_from(v2.as_bytes()).unwrap();
    assert_eq!(stats.cpu_usage_ns, 5000);
    assert_eq!(stats.online_cpus, Some(8));
    assert_eq!(
        (stats.periods, stats.throttled_periods, stats.throttled_ns),
        (10, 4, 777)
    );
    assert_eq!(stats.memory_usage_bytes, 3_000_000);
    assert_eq!(stats.memory_max_usage_bytes, None);
    assert_eq!(stats.memory_limit_bytes, Some(268_435_456));
    assert_eq!(stats.inactive_file_bytes, Some(1_500_000));
    assert_eq!(stats.memory_working_set_bytes(), 1_500_000);
}

#[test]
fn stats_of_a_stopped_container_with_empty_or_null_sections_are_zero() {
    for body in [
        "{}",
        r#"{"read":"0001-01-01T00:00:00Z","cpu_stats":{},"memory_stats":{}}"#,
        r#"{"cpu_stats":{"cpu_usage":null,"throttling_data":null},"memory_stats":{"stats":null}}"#,
    ] {
        let stats = stats_from(body.as_bytes()).unwrap();
        assert_eq!(stats.read_at, None);
        assert_eq!(stats.cpu_usage_ns, 0);
        assert_eq!(stats.system_cpu_ns, None);
        assert_eq!(stats.periods, 0);
        assert_eq!(stats.memory_usage_bytes, 0);
        assert_eq!(stats.memory_limit_bytes, None);
        assert_eq!(stats.inactive_file_bytes, None);
        assert_eq!(stats.memory_working_set_bytes(), 0);
    }
    assert!(stats_from(b"not json").is_err());
}

#[test]
fn the_running_inspect_fixture_gives_half_a_core_and_100_mb() {
    let state = state_from(INSPECT_RUNNING.as_bytes()).unwrap();
    assert_eq!(state.id, RUNNING_ID);
    assert_eq!(state.name, "apisample");
    assert_eq!(state.status, "running");
    assert!(state.running);
    assert_eq!(state.pid, Some(17752));
    assert!(!state.oom_killed);
    assert_eq!(state.restart_count, 0);
    assert_eq!(state.started_at, "2026-11-29T12:09:43.335256907Z");
    assert_eq!(state.exit_code, 0);
    assert_eq!(state.cpu_limit_cores, Some(0.5));
    assert_eq!(state.memory_limit_bytes, Some(104_857_600));
    assert!(state.labels.is_empty());
    assert!(state.env.is_empty());
    assert_eq!(state.project(), None);
    assert_eq!(state.ip_addresses, ["172.17.0.2"]);
}

#[test]
fn addresses_come_in_network_name_order_and_a_host_network_container_has_none() {
    let body = br#"{"Id":"x","NetworkSettings":{"Networks":{"b_net":{"IPAddress":"172.18.0.4"},"a_net":{"IPAddress":"172.19.0.2"}}}}"#;
    assert_eq!(
        state_from(body).unwrap().ip_addresses,
        ["172.19.0.2", "172.18.0.4"]
    );
    let body = br#"{"Id":"x","NetworkSettings":{"Networks":{"host":{"IPAddress":""}}}}"#;
    assert!(state_from(body).unwrap().ip_addresses.is_empty());
    assert!(state_from(br#"{"Id":"x"}"#)
        .unwrap()
        .ip_addresses
        .is_empty());
}

#[test]
fn the_oom_killed_inspect_fixture_reports_the_kill_and_exit_137() {
    let state = state_from(INSPECT_OOMKILLED.as_bytes()).unwrap();
    assert_eq!(state.id, OOMER_ID);
    assert_eq!(state.name, "oomer");
    assert_eq!(state.status, "exited");
    assert!(!state.running);
    assert_eq!(state.pid, None);
    assert!(state.oom_killed);
    assert_eq!(state.exit_code, 137);
    assert_eq!(state.cpu_limit_cores, None);
    assert_eq!(state.memory_limit_bytes, Some(20_971_520));
}

#[test]
fn a_cfs_quota_without_nano_cpus_gives_quota_over_period() {
    let inspect = |host: &str| {
        state_from(format!(r#"{{"HostConfig":{host}}}"#).as_bytes())
            .unwrap()
            .cpu_limit_cores
    };
    assert_eq!(
        inspect(r#"{"NanoCpus":0,"CpuQuota":150000,"CpuPeriod":100000}"#),
        Some(1.5)
    );
    assert_eq!(
        inspect(r#"{"CpuQuota":25000,"CpuPeriod":50000}"#),
        Some(0.5)
    );
    // No period: the kernel's default 100 ms applies.
    assert_eq!(inspect(r#"{"CpuQuota":50000,"CpuPeriod":0}"#), Some(0.5));
    assert_eq!(inspect(r#"{"CpuQuota":-1,"CpuPeriod":100000}"#), None);
    assert_eq!(
        inspect(r#"{"NanoCpus":2000000000,"CpuQuota":1}"#),
        Some(2.0)
    );
    assert_eq!(inspect("null"), None);
}

#[test]
fn compose_labels_and_env_of_an_inspected_container_are_read_and_env_is_never_serialized() {
    let body = r#"{"Id":"abc","Name":"/bench-api-1","State":{"Pid":0,"Running":false},
        "HostConfig":{"Memory":0},
        "Config":{"Labels":{"com.docker.compose.project":"bench","com.docker.compose.service":"api"},
                  "Env":["DATABASE_URL=postgres://u:secret@db/app","PATH=/bin"]}}"#;
    let state = state_from(body.as_bytes()).unwrap();
    assert_eq!(state.name, "bench-api-1");
    assert_eq!(state.project(), Some("bench"));
    assert_eq!(state.service(), Some("api"));
    assert_eq!(state.memory_limit_bytes, None);
    assert_eq!(state.pid, None);
    assert_eq!(
        state.env,
        ["DATABASE_URL=postgres://u:secret@db/app", "PATH=/bin"]
    );
    let json = serde_json::to_string(&state).unwrap();
    assert!(!json.contains("secret"), "{json}");
    let bare = state_from(br#"{"Config":{"Labels":null},"State":null}"#).unwrap();
    assert!(bare.labels.is_empty());
    assert!(bare.env.is_empty());
    assert_eq!(bare.started_at, "");
}

#[test]
fn the_events_fixture_yields_start_oom_die_in_order() {
    let events = events_from(EVENTS.as_bytes()).unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["start", "oom", "die"]);
    assert!(events.iter().all(|e| e.id == OOMER_ID));
    assert!(events.iter().all(|e| e.name() == Some("oomer")));
    assert_eq!(events[0].time_nano, 1_795_954_191_175_516_123);
    assert_eq!(events[1].time_nano, 1_795_954_191_275_877_116);
    assert_eq!(events[2].time_nano, 1_795_954_191_306_402_123);
    assert_eq!(events[2].exit_code(), Some(137));
    assert_eq!(events[2].attributes["image"], "debian:bookworm-slim");
    assert_eq!(events[0].exit_code(), None);
    assert!(events_from(b"").unwrap().is_empty());
    // lab keeps compose containers by name: an event is matched by name or by ID.
    assert!(events[2].is_about("oomer"));
    assert!(events[2].is_about(OOMER_ID));
    assert!(events[2].is_about(&OOMER_ID[..12]));
    assert!(!events[2].is_about("other"));
    assert!(!events[2].is_about(""));
}

#[test]
fn an_event_without_time_nano_falls_back_to_seconds() {
    let events = events_from(br#"{"status":"die","id":"x","time":2}"#).unwrap();
    assert_eq!(events[0].action, "die");
    assert_eq!(events[0].id, "x");
    assert_eq!(events[0].time_nano, 2_000_000_000);
    assert!(events[0].attributes.is_empty());
}

#[test]
fn a_container_listing_maps_names_services_states_and_labels() {
    let body = r#"[
        {"Id":"a1","Names":["/bench-api-1"],"State":"running","Status":"Up 4 seconds",
         "Labels":{"com.docker.compose.project":"bench","com.docker.compose.service":"api"}},
        {"Id":"d2","Names":["/bench-db-1"],"State":"exited",
         "Labels":{"com.docker.compose.project":"bench","com.docker.compose.service":"db"}},
        {"Id":"x3","Names":null,"Labels":null}
    ]"#;
    let containers = containers_from(body.as_bytes()).unwrap();
    assert_eq!(containers.len(), 3);
    assert_eq!(containers[0].id, "a1");
    assert_eq!(containers[0].name, "bench-api-1");
    assert_eq!(containers[0].service.as_deref(), Some("api"));
    assert_eq!(containers[0].state, "running");
    assert_eq!(containers[0].labels[PROJECT_LABEL], "bench");
    assert_eq!(containers[1].service.as_deref(), Some("db"));
    assert_eq!(containers[1].state, "exited");
    assert_eq!(containers[2].name, "");
    assert_eq!(containers[2].service, None);
    assert!(containers_from(b"[]").unwrap().is_empty());
    assert!(containers_from(b"null").unwrap().is_empty());
}

// --- DOCKER_HOST ---------------------------------------------------------------------------

#[test]
fn an_unset_or_empty_docker_host_means_the_default_socket() {
    for value in [None, Some(""), Some("  ")] {
        assert_eq!(
            socket_from_docker_host(value).unwrap(),
            PathBuf::from("/var/run/docker.sock")
        );
    }
}

#[test]
fn a_unix_docker_host_gives_its_socket_path() {
    assert_eq!(
        socket_from_docker_host(Some("unix:///run/user/1000/docker.sock")).unwrap(),
        PathBuf::from("/run/user/1000/docker.sock")
    );
    assert!(socket_from_docker_host(Some("unix://")).is_err());
}

#[test]
fn a_tcp_or_ssh_docker_host_is_refused_with_a_hint_about_the_unix_socket() {
    for value in [
        "tcp://127.0.0.1:2375",
        "ssh://me@box",
        "npipe:////./pipe/docker",
    ] {
        let err = socket_from_docker_host(Some(value))
            .unwrap_err()
            .to_string();
        assert!(err.contains(value), "{err}");
        assert!(err.contains("lab needs the engine's unix socket"), "{err}");
    }
}

// --- Over a socket ------------------------------------------------------------------------

/// A fake engine: answers each connection with the next canned answer and hands back the
/// request heads it received.
fn fake_engine(answers: Vec<Vec<u8>>) -> (tempfile::TempDir, PathBuf, JoinHandle<Vec<String>>) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for answer in answers {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while find(&head, b"\r\n\r\n").is_none() {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "client closed before finishing its request");
                head.extend_from_slice(&buf[..n]);
            }
            requests.push(String::from_utf8(head).unwrap());
            stream.write_all(&answer).unwrap();
        }
        requests
    });
    (dir, socket, server)
}

#[test]
fn a_fake_engine_round_trip_sends_the_request_and_parses_the_answer() {
    let (_dir, socket, server) = fake_engine(vec![
        RAW_INSPECT.to_vec(),
        RAW_404.to_vec(),
        b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec(),
        b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n".to_vec(),
    ]);
    let engine = Engine::at(&socket).with_timeout(Duration::from_secs(5));
    assert_eq!(engine.socket(), socket.as_path());

    let state = engine.inspect(RUNNING_ID).unwrap();
    assert_eq!(state.name, "apisample");
    assert_eq!(state.cpu_limit_cores, Some(0.5));

    let err = engine.inspect("nosuch").unwrap_err();
    assert_eq!(
        err.to_string(),
        "docker engine: 404 Not Found: No such container: nosuch"
    );

    engine.kill(RUNNING_ID, "KILL").unwrap();
    engine.start(RUNNING_ID).unwrap();

    let requests = server.join().unwrap();
    assert_eq!(
        requests[0],
        format!(
            "GET /containers/{RUNNING_ID}/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
        )
    );
    assert!(requests[1].starts_with("GET /containers/nosuch/json HTTP/1.1\r\n"));
    assert!(requests[2].starts_with(&format!(
        "POST /containers/{RUNNING_ID}/kill?signal=KILL HTTP/1.1\r\n"
    )));
    assert!(requests[2].contains("\r\nContent-Length: 0\r\n"));
    assert!(requests[3].starts_with(&format!("POST /containers/{RUNNING_ID}/start HTTP/1.1\r\n")));
}

#[test]
fn a_missing_socket_says_the_engine_is_unreachable_and_how_to_reach_it() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nothing-here.sock");
    let err = Engine::at(&socket).info().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("docker engine is not reachable at"), "{text}");
    assert!(text.contains(&socket.display().to_string()), "{text}");
    assert!(text.contains("engine-proxy"), "{text}");
    assert!(text.contains("LAB_DOCKER_SOCKET"), "{text}");
    assert!(matches!(
        err.downcast_ref::<DockerError>(),
        Some(DockerError::Unreachable { .. })
    ));
}

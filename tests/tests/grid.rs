//! The scraper on a real Selenium Grid 4 (`WEBDRIVER_URL`): a standalone
//! server and a hub with a node, the Grid's idle-session timeout against
//! the pool's warm sessions, a node killed mid-lookup, and the pool size
//! against the Grid's `--max-sessions`. The Grids run one at a time: each
//! is a JVM and browsers, on two cores.

use crate::support;

use crate::support::grid::Grid;
use crate::support::scraper::Scraper;
use crate::support::{assert_record, expected_record, replica, wait_until_async};
use ruc_tests::replica::Behaviour;
use tokio::sync::Mutex;

static ONE_GRID_AT_A_TIME: Mutex<()> = Mutex::const_new(());

const RUC: &str = "20440374248";

/// A scraper with `sessions` browsers on `grid`.
async fn scraper_on(
    grid: &Grid,
    replica: &ruc_tests::replica::Replica,
    sessions: &str,
    env: &[(&str, &str)],
) -> Scraper {
    let url = grid.url();
    let mut all = vec![("SCRAPER_SESSIONS", sessions), ("WEBDRIVER_URL", url.as_str())];
    all.extend_from_slice(env);
    Scraper::start(replica, &all).await
}

async fn sessions_become(grid: &Grid, count: usize) {
    let what = format!("the Grid holds {count} sessions");
    wait_until_async(&what, || async { grid.sessions().await == count }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lookups_through_a_standalone_grid_and_through_a_hub_and_node() {
    let _one = ONE_GRID_AT_A_TIME.lock().await;
    let replica = replica().await;
    for hub in [false, true] {
        let grid = if hub {
            Grid::hub_and_node(2, &[]).await
        } else {
            Grid::standalone(2, &[]).await
        };
        let scraper = scraper_on(&grid, &replica, "2", &[]).await;
        assert_eq!(grid.sessions().await, 2, "the pool's warm sessions live on the Grid");
        let (status, body) = scraper.lookup(RUC).await;
        assert_eq!(status, 200, "{body}");
        assert_record(&body, &expected_record(RUC));
        scraper.stop().await;
        sessions_become(&grid, 0).await;
        grid.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_the_grid_timed_out_is_replaced_by_the_next_lookup() {
    let _one = ONE_GRID_AT_A_TIME.lock().await;
    let replica = replica().await;
    let grid = Grid::standalone(1, &["--session-timeout", "3"]).await;
    let scraper = scraper_on(&grid, &replica, "1", &[]).await;
    // The warm session sits idle; the Grid ends it.
    sessions_become(&grid, 0).await;
    let (status, body) = scraper.lookup(RUC).await;
    assert_eq!(status, 200, "{body}");
    assert!(scraper.metric("ruc_scraper_session_restarts_total").await >= 1.0);
    scraper.stop().await;
    grid.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_mid_lookup_fails_cleanly_and_leaks_no_session_when_it_returns() {
    let _one = ONE_GRID_AT_A_TIME.lock().await;
    let replica = replica().await;
    let mut grid = Grid::hub_and_node(1, &[]).await;
    let scraper = scraper_on(&grid, &replica, "1", &[("SCRAPER_MAX_ATTEMPTS", "1")]).await;
    replica.set_behaviour(Behaviour {
        delay_ms: 3000,
        ..Behaviour::default()
    });
    let in_flight = {
        let client = reqwest::Client::new();
        tokio::spawn(client.get(format!("{}/obtener-ruc/{RUC}", scraper.base)).send())
    };
    support::wait_until("the search reached SUNAT", || replica.searches() == 1).await;
    grid.kill_node();
    let status = in_flight.await.unwrap().expect("an answer").status().as_u16();
    assert!([502, 503, 504].contains(&status), "a clean failure, not {status}");

    // The node comes back: the scraper works again, with one session.
    replica.set_behaviour(Behaviour::default());
    grid.start_node().await;
    let answered = || async { scraper.lookup(RUC).await.0 == 200 };
    wait_until_async("lookups work again", answered).await;
    // Once the hub has dropped the dead node, the scraper's one session is
    // all there is: none leaked on the new node.
    sessions_become(&grid, 1).await;
    scraper.stop().await;
    sessions_become(&grid, 0).await;
    grid.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_larger_than_the_grids_max_sessions_stays_within_it() {
    let _one = ONE_GRID_AT_A_TIME.lock().await;
    let replica = replica().await;
    let grid = Grid::standalone(1, &["--session-request-timeout", "5"]).await;
    let scraper = scraper_on(&grid, &replica, "2", &[]).await;
    // The session the Grid has no room for fails to start: a lookup that
    // waits for it gets a clean 503 (Retry-After), never a second session.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(scraper.lookup(RUC).await.0);
        assert!(
            grid.sessions().await <= 1,
            "the Grid never runs more than its --max-sessions"
        );
    }
    assert!(statuses.iter().all(|s| [200, 503].contains(s)), "{statuses:?}");
    assert!(statuses.contains(&200), "the session that fits serves: {statuses:?}");
    scraper.stop().await;
    grid.stop().await;
}

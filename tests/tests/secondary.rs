//! The pages behind the result page's buttons (representantes, trabajadores,
//! establecimientos anexos, deuda coactiva): as the SUNAT replica serves
//! them over HTTP (both charsets, CRLF, empty states, SUNAT's error page
//! where a taxpayer has no such page, the annexes' button only where it
//! applies, every visit counted), and as the scraper reads them from it
//! in both modes (`GET /obtener-ruc/<ruc>/<kind>`): records, empty states,
//! an unknown RUC, SUNAT's error page, the firewall, what SUNAT saw.

use crate::support;

use crate::support::replica;
use crate::support::scraper::Scraper;
use ruc_tests::replica::{Behaviour, Charset, Replica};
use serde_json::{json, Value};

const SERVLET: &str = "/cl-ti-itmrconsruc/jcrS00Alias";

/// Posts the button's form of `action` for `ruc`, as the result page
/// does; the status, the declared charset and the page as bytes.
async fn post(replica: &Replica, fields: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter().copied())
        .finish();
    let response = reqwest::Client::new()
        .post(format!("{}{SERVLET}", replica.url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("the replica answers");
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    (status, content_type, response.bytes().await.unwrap().to_vec())
}

async fn button(replica: &Replica, action: &str, ruc: &str) -> (String, String) {
    let fields = [
        ("accion", action),
        ("contexto", "ti-it"),
        ("modo", "1"),
        ("nroRuc", ruc),
        ("desRuc", ""),
    ];
    let (status, content_type, bytes) = post(replica, &fields).await;
    assert_eq!(status, 200, "SUNAT answers everything with 200");
    let text = match content_type.as_str() {
        "text/html; charset=ISO-8859-1" => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8(bytes).expect("UTF-8 as declared"),
    };
    assert!(!text.replace("\r\n", "").contains('\n'), "CRLF line endings only");
    (content_type, text)
}

#[tokio::test(flavor = "multi_thread")]
async fn each_page_in_both_charsets_with_its_empty_state_and_every_visit_counted() {
    let replica = replica().await;
    for charset in [Charset::Utf8, Charset::Latin1] {
        replica.set_behaviour(Behaviour {
            charset,
            ..Behaviour::default()
        });
        let (content_type, people) = button(&replica, "getRepLeg", "20440374248").await;
        let declared = if charset == Charset::Latin1 {
            "ISO-8859-1"
        } else {
            "UTF-8"
        };
        assert_eq!(content_type, format!("text/html; charset={declared}"));
        assert!(people.contains("<h1>REPRESENTANTES LEGALES DE 20440374248 - GOBIERNO REGIONAL LA LIBERTAD</h1>"));
        assert!(people.contains("SALAZAR RIOS MARIO ANDRES") && people.contains("02/01/2023"));
        let (_, workers) = button(&replica, "getCantTrab", "20440374248").await;
        assert!(workers.contains("<td align='center'>2025-09</td>") && workers.contains(">NE</td>"));
        let (_, annexes) = button(&replica, "getLocAnex", "20987654326").await;
        assert!(annexes.contains("<td>LO.LOCAL COMERCIAL</td>"));
        let (_, debts) = button(&replica, "getInfoDC", "20987654326").await;
        assert!(debts.contains("15,482.30") && debts.contains("12/01/2024"));
    }
    let (_, nobody) = button(&replica, "getRepLeg", "10401510465").await;
    assert!(nobody.contains("para representantes legales"));
    let (_, no_workers) = button(&replica, "getCantTrab", "20987654326").await;
    assert!(no_workers.contains("No existen declaraciones presentadas"));
    let (_, no_debt) = button(&replica, "getInfoDC", "20440374248").await;
    assert!(no_debt.contains("No se ha remitido deuda en cobranza coactiva"));
    for (action, ruc) in [("getLocAnex", "10401510465"), ("getRepLeg", "20000000001")] {
        let (content_type, page) = button(&replica, action, ruc).await;
        assert_eq!(content_type, "text/html; charset=ISO-8859-1", "{action} {ruc}");
        assert!(
            page.contains(".:: Pagina de Error ::."),
            "SUNAT's error page for {action} {ruc}"
        );
    }
    let (_, no_annexes) = button(&replica, "getLocAnex", "10401510465").await;
    assert!(no_annexes.contains("para locales anexos"), "{no_annexes}");
    assert_eq!(replica.secondary_visits("20440374248", "getRepLeg"), 2);
    assert_eq!(replica.secondary_visits("10401510465", "getLocAnex"), 2);
    assert_eq!(replica.searches(), 0, "a button's page is not a search");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_annexes_button_shows_only_for_a_taxpayer_with_annexes() {
    let replica = replica().await;
    let token = "a".repeat(52);
    let search = |ruc: &'static str| {
        let token = token.clone();
        let replica = &replica;
        async move {
            let fields = [
                ("accion", "consPorRuc"),
                ("nroRuc", ruc),
                ("token", &token),
                ("modo", "1"),
            ];
            String::from_utf8_lossy(&post(replica, &fields).await.2).into_owned()
        }
    };
    for (ruc, has_annexes) in [("20440374248", true), ("20987654326", true), ("20550263948", false)] {
        let page = search(ruc).await;
        assert!(page.contains(&format!("{ruc} - ")), "the result page of {ruc}");
        assert_eq!(page.contains("name=\"formLocAnex\""), has_annexes, "{ruc}");
        assert!(
            page.contains("name=\"formRepLeg\""),
            "{ruc}: every taxpayer has the others"
        );
    }
}

/// Every page of two taxpayers, the empty states, an unknown RUC, SUNAT's
/// error page and the firewall, through `scraper`; SUNAT (the replica)
/// sees the search and the page, once each per lookup.
async fn the_scraper_reads_every_page(scraper: &Scraper, replica: &Replica) {
    let (status, people) = scraper.get("/obtener-ruc/20440374248/representantes").await;
    assert_eq!(status, 200, "{people}");
    assert_eq!(people["ruc"], "20440374248");
    assert_eq!(
        people["representantes"][1],
        json!({"tipoDocumento": "DNI", "numeroDocumento": "18123456", "nombre": "VEGA CHAVEZ ANA LUCIA",
               "cargo": "GERENTE GENERAL", "desde": "2023-03-15"})
    );
    assert!(people["consultadoEn"].as_str().unwrap().ends_with('Z'));
    let (_, workers) = scraper.get("/obtener-ruc/20440374248/trabajadores").await;
    assert_eq!(
        workers["periodos"][2],
        json!({"periodo": "2025-09", "trabajadores": 1248, "pensionistas": 11, "prestadores": null})
    );
    let (_, annexes) = scraper.get("/obtener-ruc/20440374248/establecimientos").await;
    assert_eq!(
        annexes["establecimientos"][0],
        json!({"codigo": "0001", "tipo": "SUCURSAL",
               "direccion": "AV. ESPAÑA NRO. 1800 LA LIBERTAD - TRUJILLO - TRUJILLO",
               "actividadEconomica": "8411 - ACTIVIDADES DE LA ADMINISTRACIÓN PÚBLICA EN GENERAL"})
    );
    assert_eq!(annexes["establecimientos"][1]["actividadEconomica"], Value::Null);
    let (_, debts) = scraper.get("/obtener-ruc/20987654326/deuda-coactiva").await;
    assert_eq!(
        debts["deudas"],
        json!([{"monto": "15482.30", "periodo": "2023-08", "inicioCobranza": "2024-01-12", "entidad": "SUNAT"},
               {"monto": "980.00", "periodo": "2024-02", "inicioCobranza": "2024-06-05", "entidad": "SUNAT"}])
    );
    for (path, list) in [
        ("/obtener-ruc/20440374248/deuda-coactiva", "deudas"),
        ("/obtener-ruc/20987654326/trabajadores", "periodos"),
        ("/obtener-ruc/10401510465/representantes", "representantes"),
        ("/obtener-ruc/10401510465/establecimientos", "establecimientos"),
    ] {
        let (status, empty) = scraper.get(path).await;
        assert_eq!((status, empty[list].clone()), (200, json!([])), "{path}: {empty}");
    }
    assert_eq!(
        replica.secondary_visits("10401510465", "getLocAnex"),
        1,
        "asked once all the same"
    );
    let (status, unknown) = scraper.get("/obtener-ruc/20000000001/representantes").await;
    assert_eq!(status, 404, "{unknown}");
    assert_eq!(
        replica.secondary_visits("20000000001", "getRepLeg"),
        0,
        "no page without a taxpayer"
    );
    let (status, _) = scraper.get("/obtener-ruc/20440374248/historico").await;
    assert_eq!(status, 404, "no such page");
    let (status, invalid) = scraper.get("/obtener-ruc/2044037424/representantes").await;
    assert_eq!((status, invalid["ruc"].as_str()), (400, Some("2044037424")));
    assert_eq!(
        replica.secondary_visits("20440374248", "getRepLeg"),
        1,
        "one page per lookup"
    );
    // A list of annexes longer than a page: every page read, each a visit.
    let (status, many) = scraper.get("/obtener-ruc/20493919271/establecimientos").await;
    assert_eq!(status, 200, "{many}");
    let codes: Vec<&str> = many["establecimientos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|annex| annex["codigo"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (1..=23).map(|n| format!("{n:04}")).collect();
    assert_eq!(codes, expected, "three pages, in order");
    assert_eq!(
        replica.secondary_visits("20493919271", "getLocAnex"),
        3,
        "a visit per page"
    );
    assert_eq!(replica.searches_for("20440374248"), 4, "and the search each needs");
}

/// SUNAT's error page and the firewall on a page behind the result: 502s.
async fn failures_of_the_page_are_502s(scraper: &Scraper, replica: &Replica) {
    replica.set_behaviour(Behaviour {
        page_error_pages: 1,
        ..Behaviour::default()
    });
    let (status, body) = scraper.get("/obtener-ruc/20987654326/representantes").await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("Surgieron problemas"),
        "{body}"
    );
    replica.set_behaviour(Behaviour {
        firewall: true,
        ..Behaviour::default()
    });
    let (status, body) = scraper.get("/obtener-ruc/20987654326/representantes").await;
    assert_eq!(status, 502, "{body}");
    replica.set_behaviour(Behaviour::default());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_direct_scraper_reads_the_pages_behind_the_result() {
    let replica = replica().await;
    let scraper = Scraper::start_without_browser(&replica, &[("SCRAPER_MAX_ATTEMPTS", "1")]).await;
    the_scraper_reads_every_page(&scraper, &replica).await;
    failures_of_the_page_are_502s(&scraper, &replica).await;
    replica.set_behaviour(Behaviour {
        charset: Charset::Latin1,
        ..Behaviour::default()
    });
    let (_, annexes) = scraper.get("/obtener-ruc/20440374248/establecimientos").await;
    assert_eq!(
        annexes["establecimientos"][0]["direccion"],
        "AV. ESPAÑA NRO. 1800 LA LIBERTAD - TRUJILLO - TRUJILLO"
    );
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_scraper_reads_the_pages_behind_the_result() {
    let replica = replica().await;
    let scraper = Scraper::start(&replica, &[("SCRAPER_SESSIONS", "1"), ("SCRAPER_MAX_ATTEMPTS", "1")]).await;
    the_scraper_reads_every_page(&scraper, &replica).await;
    failures_of_the_page_are_502s(&scraper, &replica).await;
    scraper.stop().await;
}

/// The proxy's path of a page.
fn page_path(ruc: &str, kind: &str) -> String {
    format!("/obtener-ruc/{ruc}/{kind}")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_proxies_serve_each_page_cached_and_coalesced_with_one_sunat_visit() {
    let replica = replica().await;
    let scraper = Scraper::start_without_browser(&replica, &[("SCRAPER_SESSIONS", "4")]).await;
    replica.set_behaviour(Behaviour {
        delay_ms: 500,
        ..Behaviour::default()
    });
    let redis = support::redis::RedisServer::start();
    let env = [("UPSTREAM_MAX_INFLIGHT", "4"), ("UPSTREAM_GLOBAL_MAX_INFLIGHT", "4")];
    let replicas = [
        std::sync::Arc::new(support::proxy::Proxy::start(&redis.url(), &scraper.base, &env).await),
        std::sync::Arc::new(support::proxy::Proxy::start(&redis.url(), &scraper.base, &env).await),
    ];
    let kinds = [
        ("representantes", "getRepLeg", "representantes"),
        ("trabajadores", "getCantTrab", "periodos"),
        ("establecimientos", "getLocAnex", "establecimientos"),
        ("deuda-coactiva", "getInfoDC", "deudas"),
    ];
    let mut asked = Vec::new();
    for (kind, _, _) in kinds {
        for client in 0..6 {
            let proxy = replicas[client % 2].clone();
            asked.push(tokio::spawn(async move {
                (kind, proxy.get(&page_path("20440374248", kind)).await)
            }));
        }
    }
    let mut first_body = std::collections::BTreeMap::new();
    for answer in asked {
        let (kind, answer) = answer.await.unwrap();
        assert_eq!(answer.status, 200, "{kind}: {}", answer.body);
        let body = first_body.entry(kind).or_insert_with(|| answer.body.clone());
        assert_eq!(&answer.body, body, "{kind}: every client the same page");
    }
    for (kind, accion, list) in kinds {
        assert_eq!(
            replica.secondary_visits("20440374248", accion),
            1,
            "{kind}: one SUNAT visit for 12 clients"
        );
        let hit = replicas[1].get(&page_path("20440374248", kind)).await;
        assert_eq!(hit.header("x-cache"), "HIT", "{kind}");
        assert!(hit.json()[list].is_array(), "{kind}: {}", hit.body);
        let key = format!("sunat:ruc:20440374248:{kind}");
        let stored: Value = serde_json::from_str(&redis.get(&key).expect("stored")).unwrap();
        assert_eq!(stored, hit.json(), "{key} holds the readable page");
        let fresh_days = if kind == "deuda-coactiva" { 1 } else { 7 };
        let ttl = redis.ttl(&key);
        assert!(
            ttl > (fresh_days + 7 - 1) * 86_400 && ttl <= (fresh_days + 7) * 86_400,
            "{key}: {ttl}"
        );
        let head = replicas[0].head(&page_path("20440374248", kind)).await;
        assert_eq!((head.status, head.body.as_str()), (200, ""), "{kind}: HEAD");
    }
    assert!(
        redis.get("sunat:ruc:20440374248").is_none(),
        "the record is its own key, not looked up here"
    );

    // An unregistered RUC: one search, then its 404 answers every page.
    let unknown = replicas[0].get(&page_path("20000000001", "representantes")).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let searches = replica.searches_for("20000000001");
    for (kind, _, _) in kinds {
        let again = replicas[1].get(&page_path("20000000001", kind)).await;
        assert_eq!((again.status, again.header("x-cache")), (404, "HIT"), "{kind}");
    }
    assert_eq!(
        replica.searches_for("20000000001"),
        searches,
        "no SUNAT visit for a remembered 404"
    );
    let bad = replicas[0].get(&page_path("20440374248", "historico")).await;
    assert_eq!(bad.status, 404);
    let metrics = replicas[1].metrics_page().await;
    let hits = support::sum_samples(
        &metrics,
        "ruc_proxy_lookups_total",
        &["page=\"trabajadores\"", "cache=\"hit\""],
    );
    assert!(hits >= 1.0, "hits counted by page");
    for proxy in replicas {
        assert!(std::sync::Arc::into_inner(proxy).unwrap().stop().await.success());
    }
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_purges_one_page_or_everything_of_a_ruc() {
    const TOKEN: &str = "5d0c8a7e3f19b246e8a1c07d94f3b62a";
    let replica = replica().await;
    let scraper = Scraper::start_without_browser(&replica, &[]).await;
    let redis = support::redis::RedisServer::start();
    let proxy = support::proxy::Proxy::start(&redis.url(), &scraper.base, &[("ADMIN_TOKEN", TOKEN)]).await;
    for path in [
        "/obtener-ruc/20987654326",
        "/obtener-ruc/20987654326/deuda-coactiva",
        "/obtener-ruc/20987654326/representantes",
    ] {
        assert_eq!(proxy.get(path).await.status, 200, "{path}");
    }
    let delete = reqwest::Method::DELETE;
    let one = proxy
        .admin(delete.clone(), "/cache/20987654326/deuda-coactiva", Some(TOKEN))
        .await;
    assert_eq!(
        one.json(),
        json!({"ruc": "20987654326", "page": "deuda-coactiva", "deleted": 1})
    );
    assert!(redis.get("sunat:ruc:20987654326:deuda-coactiva").is_none());
    assert!(
        redis.get("sunat:ruc:20987654326:representantes").is_some(),
        "the other pages stay"
    );
    let refresh = proxy
        .admin(
            reqwest::Method::POST,
            "/cache/20987654326/trabajadores/refresh",
            Some(TOKEN),
        )
        .await;
    assert_eq!(
        (refresh.status, refresh.json()["page"].clone()),
        (202, json!("trabajadores"))
    );
    support::wait_until("the refreshed page stored", || {
        redis.get("sunat:ruc:20987654326:trabajadores").is_some()
    })
    .await;
    let all = proxy.admin(delete, "/cache/20987654326", Some(TOKEN)).await;
    assert_eq!(all.json()["deleted"], 3, "the record and every page: {}", all.body);
    assert!(
        redis.cache_keys().iter().all(|key| !key.contains("20987654326")),
        "{:?}",
        redis.cache_keys()
    );
    assert!(proxy.stop().await.success());
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_proxy_and_a_browser_a_page_is_stored_and_a_failure_never() {
    let replica = replica().await;
    let scraper = Scraper::start(&replica, &[("SCRAPER_SESSIONS", "1"), ("SCRAPER_MAX_ATTEMPTS", "1")]).await;
    let redis = support::redis::RedisServer::start();
    let proxy = support::proxy::Proxy::start(&redis.url(), &scraper.base, &[]).await;
    let miss = proxy.get(&page_path("20987654326", "deuda-coactiva")).await;
    assert_eq!((miss.status, miss.header("x-cache")), (200, "MISS"), "{}", miss.body);
    assert_eq!(miss.json()["deudas"][0]["monto"], "15482.30");
    let hit = proxy.get(&page_path("20987654326", "deuda-coactiva")).await;
    assert_eq!((hit.header("x-cache"), hit.body.as_str()), ("HIT", miss.body.as_str()));
    assert_eq!(replica.secondary_visits("20987654326", "getInfoDC"), 1);
    // Every kind, an empty state, a paged list and an unknown RUC.
    for (path, list, count) in [
        (page_path("20440374248", "representantes"), "representantes", 2),
        (page_path("20440374248", "trabajadores"), "periodos", 3),
        (page_path("20493919271", "establecimientos"), "establecimientos", 23),
        (page_path("20440374248", "deuda-coactiva"), "deudas", 0),
    ] {
        let answer = proxy.get(&path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert_eq!(answer.json()[list].as_array().map(Vec::len), Some(count), "{path}");
    }
    let unknown = proxy.get(&page_path("20000000001", "trabajadores")).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    // SUNAT's error page, then its firewall, on the page: 502s, passed on,
    // never stored.
    for behaviour in [
        Behaviour {
            page_error_pages: 1,
            ..Behaviour::default()
        },
        Behaviour {
            firewall: true,
            ..Behaviour::default()
        },
    ] {
        replica.set_behaviour(behaviour);
        let failed = proxy.get(&page_path("20987654326", "trabajadores")).await;
        assert_eq!(failed.status, 502, "{}", failed.body);
        let key = "sunat:ruc:20987654326:trabajadores";
        assert!(redis.get(key).is_none(), "a failure is never cached");
    }
    replica.set_behaviour(Behaviour::default());
    let recovered = proxy.get(&page_path("20987654326", "trabajadores")).await;
    assert_eq!((recovered.status, recovered.header("x-cache")), (200, "MISS"));
    assert!(proxy.stop().await.success());
    scraper.stop().await;
}

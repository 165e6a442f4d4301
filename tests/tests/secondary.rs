//! The pages behind the result page's buttons (representantes, trabajadores,
//! establecimientos anexos, deuda coactiva) as the SUNAT replica serves
//! them over HTTP: in both charsets with CRLF line endings, their empty
//! states, SUNAT's error page where a taxpayer has no such page, the
//! annexes' button only where it applies, and every visit counted.

mod support;

use ruc_tests::replica::{Behaviour, Charset, Replica};
use support::replica;

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

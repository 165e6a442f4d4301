//! The User-Agent client hints (`sec-ch-ua*`) Chrome sends with every
//! navigation to an HTTPS site. SUNAT's firewall checks that a request's
//! headers agree with each other (`sunat-site.md` §1.4): a Chrome
//! `User-Agent` without them is not what Chrome sends.
//!
//! The brand list is Chromium's own: a made-up "greased" brand, then
//! Chromium and Google Chrome, in an order and with a spelling that both
//! follow from the major version (`GetGreasedUserAgentBrandVersion` in
//! Chromium's `user_agent_utils.cc`).

/// The hints that go with one `User-Agent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientHints {
    /// `sec-ch-ua`.
    pub(crate) brands: String,
    /// `sec-ch-ua-mobile`.
    pub(crate) mobile: &'static str,
    /// `sec-ch-ua-platform`.
    pub(crate) platform: &'static str,
}

const GREASE_CHARS: [char; 11] = [' ', '(', ':', '-', '.', '/', ')', ';', '=', '?', '_'];
const GREASE_VERSIONS: [&str; 3] = ["8", "99", "24"];
/// Where the greased brand, Chromium and Google Chrome go, by major % 6.
const ORDERS: [[usize; 3]; 6] = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

impl ClientHints {
    /// The hints Chrome sends with `user_agent`; `None` when it is not
    /// Chrome's (an honest non-browser agent sends none).
    pub(crate) fn for_user_agent(user_agent: &str) -> Option<ClientHints> {
        let major: u32 = user_agent.split_once("Chrome/")?.1.split('.').next()?.parse().ok()?;
        let platform = if user_agent.contains("Windows") {
            "\"Windows\""
        } else if user_agent.contains("Android") {
            "\"Android\""
        } else if user_agent.contains("Macintosh") {
            "\"macOS\""
        } else {
            "\"Linux\""
        };
        Some(ClientHints {
            brands: brands(major),
            mobile: if user_agent.contains("Mobile") { "?1" } else { "?0" },
            platform,
        })
    }
}

/// `sec-ch-ua` of Google Chrome `major`.
fn brands(major: u32) -> String {
    let seed = major as usize;
    let greased = format!(
        "Not{}A{}Brand",
        GREASE_CHARS[seed % GREASE_CHARS.len()],
        GREASE_CHARS[(seed + 1) % GREASE_CHARS.len()]
    );
    let listed = [
        (
            greased.as_str(),
            GREASE_VERSIONS[seed % GREASE_VERSIONS.len()].to_string(),
        ),
        ("Chromium", major.to_string()),
        ("Google Chrome", major.to_string()),
    ];
    let mut ordered = [""; 3].map(String::from);
    for (brand, place) in listed.iter().zip(ORDERS[seed % ORDERS.len()]) {
        ordered[place] = format!("\"{}\";v=\"{}\"", brand.0, brand.1);
    }
    ordered.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brand_list_is_the_one_chrome_sends() {
        // As captured from Google Chrome of these versions.
        assert_eq!(
            brands(118),
            r#""Chromium";v="118", "Google Chrome";v="118", "Not=A?Brand";v="99""#
        );
        assert_eq!(
            brands(120),
            r#""Not_A Brand";v="8", "Chromium";v="120", "Google Chrome";v="120""#
        );
        assert_eq!(
            brands(124),
            r#""Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99""#
        );
        assert_eq!(
            brands(131),
            r#""Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24""#
        );
    }

    #[test]
    fn chrome_on_linux_says_so_and_other_agents_send_no_hints() {
        let linux =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        let hints = ClientHints::for_user_agent(linux).unwrap();
        assert_eq!((hints.mobile, hints.platform), ("?0", "\"Linux\""));
        assert!(hints.brands.contains(r#""Chromium";v="156""#), "{}", hints.brands);
        assert_eq!(ClientHints::for_user_agent("ruc-lookup/1.0 (+ops@example.pe)"), None);
    }
}

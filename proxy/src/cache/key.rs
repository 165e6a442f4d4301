//! The Redis key of a record. Existing runbooks and tools read it
//! (`redis-cli GET sunat:ruc:<ruc>`), so it must never change.

use ruc_contract::Ruc;

pub fn redis_key(ruc: &Ruc) -> String {
    format!("sunat:ruc:{ruc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_the_original_services_key() {
        assert_eq!(redis_key(&Ruc::parse("20131312955").unwrap()), "sunat:ruc:20131312955");
    }
}

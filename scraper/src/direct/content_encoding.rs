//! Compressed pages, as Chrome takes them: every navigation says
//! `Accept-Encoding: gzip, deflate, br, zstd` (over plain HTTP only `gzip,
//! deflate`; `sunat::post`), so the direct client says the same (its
//! headers must agree with the Chrome it claims to be) and undoes whichever
//! the server chose before the charset is read.
//! A body that does not decode is Chrome's `ERR_CONTENT_DECODING_FAILED`.

use std::io::Read;

use bytes::Bytes;

/// Why a body could not be decoded: Chrome's name for it.
pub(crate) type DecodeError = &'static str;

/// `body` as sent with `Content-Encoding: content_encoding`, decoded, at
/// most `limit` bytes.
pub(crate) fn decode(content_encoding: Option<&str>, body: Bytes, limit: usize) -> Result<Bytes, DecodeError> {
    let coding = content_encoding.map(|value| value.trim().to_ascii_lowercase());
    let decoded = match coding.as_deref() {
        None | Some("" | "identity") => return Ok(body),
        Some("gzip" | "x-gzip") => read_all(flate2::read::MultiGzDecoder::new(&body[..]), limit),
        // Properly zlib-wrapped; some servers send the raw stream instead.
        Some("deflate") => read_all(flate2::read::ZlibDecoder::new(&body[..]), limit)
            .or_else(|_| read_all(flate2::read::DeflateDecoder::new(&body[..]), limit)),
        Some("br") => read_all(brotli_decompressor::Decompressor::new(&body[..], 4096), limit),
        Some("zstd") => zstd::stream::read::Decoder::new(&body[..])
            .map_err(|_| DECODING_FAILED)
            .and_then(|decoder| read_all(decoder, limit)),
        Some(_) => Err(DECODING_FAILED),
    }?;
    Ok(Bytes::from(decoded))
}

const DECODING_FAILED: DecodeError = "ERR_CONTENT_DECODING_FAILED";

/// Everything `reader` gives, unless that is more than `limit` bytes.
fn read_all(reader: impl Read, limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut decoded = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|_| DECODING_FAILED)?;
    if decoded.len() > limit {
        return Err("ERR_RESPONSE_TOO_LARGE");
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const PAGE: &[u8] = b"<html><head><title>SUNAT</title></head><body>Consulta RUC</body></html>";

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut compressed = Vec::new();
        let mut writer = brotli::CompressorWriter::new(&mut compressed, 4096, 5, 22);
        writer.write_all(data).unwrap();
        drop(writer);
        compressed
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn each_coding_chrome_accepts_comes_back_as_sent() {
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(PAGE).unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(PAGE).unwrap();
        let encoded = [
            ("gzip", gzip(PAGE)),
            ("deflate", zlib.finish().unwrap()),
            ("deflate", raw.finish().unwrap()),
            ("br", brotli(PAGE)),
            ("zstd", zstd::encode_all(PAGE, 3).unwrap()),
            ("identity", PAGE.to_vec()),
        ];
        for (coding, body) in encoded {
            assert_eq!(
                decode(Some(coding), body.into(), 1 << 20).as_deref(),
                Ok(PAGE),
                "{coding}"
            );
        }
        assert_eq!(decode(None, Bytes::from_static(PAGE), 1 << 20).as_deref(), Ok(PAGE));
    }

    #[test]
    fn a_broken_body_an_unknown_coding_or_a_bomb_fails_as_chrome_says() {
        let mut cut = gzip(PAGE);
        cut.truncate(cut.len() / 2);
        assert_eq!(decode(Some("gzip"), cut.into(), 1 << 20), Err(DECODING_FAILED));
        assert_eq!(
            decode(Some("compress"), Bytes::from_static(PAGE), 1 << 20),
            Err(DECODING_FAILED)
        );
        let bomb = gzip(&vec![b' '; 1 << 20]);
        assert_eq!(decode(Some("gzip"), bomb.into(), 1000), Err("ERR_RESPONSE_TOO_LARGE"));
    }
}

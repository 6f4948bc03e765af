//! MQTT 3.1.1 framing for the gate: whole frames off a stream, a PUBLISH's parts, a PUBLISH
//! made again with another payload, and the writer that batches frames to a client.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rumqttd::protocol::v4;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// A PUBLISH's parts.
pub(super) struct Parsed {
    pub(super) topic: Bytes,
    pub(super) pkid: Option<u16>,
    pub(super) payload: Bytes,
}

/// Reads the topic, packet id and payload of a PUBLISH frame; `None` if malformed.
pub(super) fn parse_publish(frame: &Bytes) -> Option<Parsed> {
    let header = v4::check(frame.iter(), usize::MAX >> 4).ok()?;
    let qos = (frame[0] >> 1) & 0b11;
    let mut rest = frame.slice(header.fixed_header_len..);
    if rest.len() < 2 {
        return None;
    }
    let len = rest.get_u16() as usize;
    if rest.len() < len {
        return None;
    }
    let topic = rest.split_to(len);
    let pkid = if qos > 0 {
        if rest.len() < 2 {
            return None;
        }
        Some(rest.get_u16())
    } else {
        None
    };
    Some(Parsed {
        topic,
        pkid,
        payload: rest,
    })
}

/// A PUBLISH frame with `byte1`'s flags, `topic`, `pkid` and `payload`.
pub(super) fn encode_publish(byte1: u8, topic: &[u8], pkid: Option<u16>, payload: &[u8]) -> Bytes {
    let len = 2 + topic.len() + pkid.map_or(0, |_| 2) + payload.len();
    let mut out = BytesMut::with_capacity(len + 5);
    out.put_u8(byte1);
    let _ = v4::write_remaining_length(&mut out, len);
    out.put_u16(topic.len() as u16);
    out.put_slice(topic);
    if let Some(p) = pkid {
        out.put_u16(p);
    }
    out.put_slice(payload);
    out.freeze()
}

/// Reads one whole MQTT frame; `None` at a clean end of stream.
pub(super) async fn read_frame<R: AsyncReadExt + Unpin>(
    stream: &mut R,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Bytes>, String> {
    loop {
        match v4::check(buf.iter(), max) {
            Ok(header) => return Ok(Some(buf.split_to(header.frame_length()).freeze())),
            Err(rumqttd::protocol::Error::InsufficientBytes(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
        buf.reserve(4096);
        match stream.read_buf(buf).await {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Writes frames to the client until the channel closes, batching what is queued.
pub(super) async fn write_all(mut w: impl AsyncWrite + Unpin, mut rx: mpsc::Receiver<Bytes>) {
    let mut out = BytesMut::new();
    while let Some(first) = rx.recv().await {
        out.extend_from_slice(&first);
        while out.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok(more) => out.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if w.write_all(&out).await.is_err() {
            break;
        }
        out.clear();
    }
    let _ = w.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_frames_round_trip() {
        let f = encode_publish(0x32, b"orders/ready", Some(7), b"{}");
        let p = parse_publish(&f).unwrap();
        assert_eq!(&p.topic[..], b"orders/ready");
        assert_eq!(p.pkid, Some(7));
        assert_eq!(&p.payload[..], b"{}");
        let f = encode_publish(0x30, b"a", None, &[1u8; 300]);
        let p = parse_publish(&f).unwrap();
        assert_eq!((p.pkid, p.payload.len()), (None, 300));
        assert!(parse_publish(&Bytes::from_static(&[0x32, 0x01, 0x00])).is_none());
    }
}

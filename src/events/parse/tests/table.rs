//! The expected events of every webhook fixture, one table row per fixture.

use super::*;

/// One expected event. `key` ending in `:h:` means "this prefix plus a sha256 hex".
/// `checks` are (JSON pointer into {"data","contact","raw"}, expected JSON text).
pub(super) struct Exp {
    t: &'static str,
    kind: ChannelKind,
    key: String,
    route: Route,
    conv: String,
    at: Option<i64>,
    checks: Vec<(&'static str, &'static str)>,
}

fn exp(
    t: &'static str,
    kind: ChannelKind,
    key: impl Into<String>,
    route: Route,
    conv: impl Into<String>,
    at: Option<i64>,
    checks: &[(&'static str, &'static str)],
) -> Exp {
    Exp {
        t,
        kind,
        key: key.into(),
        route,
        conv: conv.into(),
        at,
        checks: checks.to_vec(),
    }
}

fn wa_msg(
    t: &'static str,
    wamid: &str,
    at_s: i64,
    checks: &[(&'static str, &'static str)],
) -> Vec<Exp> {
    let mut all = vec![
        ("/contact/id", r#""US.100000000000000001""#),
        ("/contact/user_id", r#""US.100000000000000001""#),
        ("/contact/wa_id", r#""15550001234""#),
        ("/contact/phone", r#""15550001234""#),
        ("/contact/name", r#""Ana Pereira""#),
    ];
    all.extend_from_slice(checks);
    vec![exp(
        t,
        Whatsapp,
        format!("wa:msg:{PN1}:{wamid}"),
        ch(PN1),
        ANA,
        Some(at_s * 1000),
        &all,
    )]
}

fn wa_status(status: &str, at_s: i64, checks: &[(&'static str, &'static str)]) -> Vec<Exp> {
    let wamid = "wamid.HBgLMTU1NTAwMDEyMzRPVVQwMTA=";
    let mut all = vec![
        (
            "/data/message_id",
            r#""wamid.HBgLMTU1NTAwMDEyMzRPVVQwMTA=""#,
        ),
        ("/data/recipient/wa_id", r#""15550001234""#),
        ("/data/recipient/user_id", r#""US.100000000000000001""#),
        ("/data/biz_opaque_callback_data", r#""bridge-msg-0007f3a""#),
        ("/data/pricing/pricing_model", r#""PMP""#),
        (
            "/data/conversation/id",
            r#""c0ffee0000000000000000000000a11c""#,
        ),
        ("/contact/phone", r#""15550001234""#),
    ];
    all.extend_from_slice(checks);
    vec![exp(
        types::MESSAGE_STATUS,
        Whatsapp,
        format!("wa:status:{PN1}:{wamid}:{status}:{at_s}"),
        ch(PN1),
        ANA,
        Some(at_s * 1000),
        &all,
    )]
}

fn ig(t: &'static str, key: String, at: i64, checks: &[(&'static str, &'static str)]) -> Vec<Exp> {
    let mut all = vec![
        ("/contact/id", r#""6120000000000001""#),
        ("/data/standby", "false"),
    ];
    all.extend_from_slice(checks);
    vec![exp(t, Instagram, key, ch(IG), IGSID_CONV, Some(at), &all)]
}

pub(super) fn expectations(name: &str) -> Option<Vec<Exp>> {
    use types::*;
    Some(match name {
        "wa-text.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRUWFQwMDE=",
            1763380800,
            &[
                ("/data/type", r#""text""#),
                (
                    "/data/text",
                    r#""Ol\u00e1! Voc\u00eas t\u00eam o t\u00eanis tamanho 42?""#,
                ),
                (
                    "/data/message_id",
                    r#""wamid.HBgLMTU1NTAwMDEyMzRUWFQwMDE=""#,
                ),
                (
                    "/raw/text/body",
                    r#""Ol\u00e1! Voc\u00eas t\u00eam o t\u00eanis tamanho 42?""#,
                ),
            ],
        ),
        "wa-text-reply.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRUWFQwMDI=",
            1763380860,
            &[
                ("/data/text", r#""Pode reservar esse, por favor""#),
                (
                    "/data/context/reply_to",
                    r#""wamid.HBgLMTU1NTAwMDEyMzRPVVQwMDE=""#,
                ),
                ("/data/context/reply_to_from", r#""15559990000""#),
            ],
        ),
        "wa-text-forwarded.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRUWFQwMDM=",
            1763380870,
            &[("/data/context", r#"{"forwarded": true}"#)],
        ),
        "wa-image.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRJTUcwMDE=",
            1763380920,
            &[
                ("/data/type", r#""image""#),
                ("/data/media/id", r#""1480000000000001""#),
                ("/data/media/mime_type", r#""image/jpeg""#),
                ("/data/media/caption", r#""Foto do defeito na sola""#),
                (
                    "/data/media/sha256",
                    r#""Jh2ij6PzUvJ2ygrrtegrZMzRxkEPwc24Oyib4s03w9Jc=""#,
                ),
                (
                    "/data/media/url",
                    r#""https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1480000000000001&source=webhook&ext=1763384400&hash=ARfakeHash001""#,
                ),
            ],
        ),
        "wa-audio-voice.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRBVUQwMDE=",
            1763380930,
            &[
                ("/data/type", r#""audio""#),
                ("/data/media/voice", "true"),
                ("/data/media/mime_type", r#""audio/ogg; codecs=opus""#),
                ("/data/media/id", r#""1480000000000002""#),
            ],
        ),
        "wa-video.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRWSUQwMDE=",
            1763380940,
            &[
                ("/data/type", r#""video""#),
                ("/data/media/caption", r#""Video do produto chegando""#),
                ("/data/media/id", r#""1480000000000003""#),
            ],
        ),
        "wa-document.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRET0MwMDE=",
            1763380950,
            &[
                ("/data/type", r#""document""#),
                ("/data/media/filename", r#""NF-2026-4411.pdf""#),
                ("/data/media/caption", r#""Nota fiscal""#),
                ("/data/media/mime_type", r#""application/pdf""#),
            ],
        ),
        "wa-sticker.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRTVEswMDE=",
            1763380960,
            &[
                ("/data/type", r#""sticker""#),
                ("/data/media/animated", "false"),
                ("/data/media/mime_type", r#""image/webp""#),
            ],
        ),
        "wa-location.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRMT0MwMDE=",
            1763380970,
            &[
                ("/data/type", r#""location""#),
                ("/data/location/latitude", "-23.561414"),
                ("/data/location/longitude", "-46.655881"),
                ("/data/location/name", r#""Loja Paulista""#),
                (
                    "/data/location/address",
                    r#""Av. Paulista, 1000 - S\u00e3o Paulo""#,
                ),
                (
                    "/data/location/url",
                    r#""https://maps.google.com/?cid=1000000000000000001""#,
                ),
            ],
        ),
        "wa-contacts.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRWQ0YwMDE=",
            1763380980,
            &[
                ("/data/type", r#""contacts""#),
                ("/data/contacts/0/name/formatted_name", r#""Bruno Lima""#),
                ("/data/contacts/0/phones/0/wa_id", r#""15550005678""#),
                ("/data/contacts/0/org/company", r#""Lima Transportes""#),
            ],
        ),
        "wa-interactive-button-reply.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRCVE4wMDE=",
            1763380990,
            &[
                ("/data/type", r#""interactive""#),
                (
                    "/data/interactive",
                    r#"{"type":"button_reply","id":"confirm_yes","title":"Sim, confirmar"}"#,
                ),
                (
                    "/data/context/reply_to",
                    r#""wamid.HBgLMTU1NTAwMDEyMzRPVVQwMDI=""#,
                ),
            ],
        ),
        "wa-interactive-list-reply.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRMU1QwMDE=",
            1763381000,
            &[(
                "/data/interactive",
                r#"{"type":"list_reply","id":"slot_2026-11-18T14:00","title":"Ter 14:00","description":"Loja Paulista"}"#,
            )],
        ),
        "wa-interactive-nfm-reply.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRORk0wMDE=",
            1763381010,
            &[
                ("/data/interactive/type", r#""nfm_reply""#),
                ("/data/interactive/name", r#""flow""#),
                ("/data/interactive/body", r#""Sent""#),
                (
                    "/data/interactive/response",
                    r#"{"flow_token":"ft-ticket-4411","rating":"4","comment":"Entrega r\u00e1pida"}"#,
                ),
            ],
        ),
        "wa-button-template-reply.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRRUkIwMDE=",
            1763381020,
            &[
                ("/data/type", r#""button""#),
                (
                    "/data/button",
                    r#"{"payload":"TRACK_4411","text":"Rastrear pedido"}"#,
                ),
                (
                    "/data/context/reply_to",
                    r#""wamid.HBgLMTU1NTAwMDEyMzRUUEwwMDE=""#,
                ),
            ],
        ),
        "wa-reaction.json" => wa_msg(
            MESSAGE_REACTION,
            "wamid.HBgLMTU1NTAwMDEyMzRSRUEwMDE=",
            1763381030,
            &[
                (
                    "/data/message_id",
                    r#""wamid.HBgLMTU1NTAwMDEyMzRSRUEwMDE=""#,
                ),
                (
                    "/data/target_message_id",
                    r#""wamid.HBgLMTU1NTAwMDEyMzRPVVQwMDE=""#,
                ),
                ("/data/emoji", r#""\ud83d\udc4d""#),
                ("/data/removed", "false"),
                ("/data/type", r#""reaction""#),
            ],
        ),
        "wa-order.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRPUkQwMDE=",
            1763381040,
            &[
                ("/data/type", r#""order""#),
                ("/data/order/catalog_id", r#""900000000000001""#),
                ("/data/order/text", r#""Entregar depois das 18h""#),
                (
                    "/data/order/product_items/0/product_retailer_id",
                    r#""SKU-TENIS-42""#,
                ),
                ("/data/order/product_items/1/quantity", "2"),
                ("/data/order/product_items/0/item_price", "349.9"),
            ],
        ),
        "wa-system-number-change.json" => wa_msg(
            CONTACT_CHANGED,
            "wamid.HBgLMTU1NTAwMDEyMzRTWVMwMDE=",
            1763381050,
            &[
                ("/data/type", r#""system""#),
                ("/data/system_type", r#""user_changed_number""#),
                ("/data/new_wa_id", r#""15550004321""#),
                ("/data/new_user_id", r#""US.100000000000000001""#),
            ],
        ),
        "wa-referral-ctwa.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRSRUYwMDE=",
            1763381060,
            &[
                ("/data/type", r#""text""#),
                ("/data/referral/source_type", r#""ad""#),
                ("/data/referral/source_id", r#""120210000000000001""#),
                (
                    "/data/referral/ctwa_clid",
                    r#""AffK3nQ9tR2w-Lx8pZc4Vb7Ym1Nd6Hs0Jq5Ue3Tg8Wk2Rf9Oa4Ci7Xe1Mh6Pl0Gz5Bv3Sy8Dn2Kq_uW""#,
                ),
            ],
        ),
        "wa-unsupported.json" => wa_msg(
            MESSAGE_UNSUPPORTED,
            "wamid.HBgLMTU1NTAwMDEyMzRVTlMwMDE=",
            1763381070,
            &[
                ("/data/type", r#""unsupported""#),
                ("/data/unsupported_type", r#""poll""#),
                ("/data/errors/0/code", "131051"),
                ("/data/errors/0/title", r#""Message type unknown""#),
                (
                    "/data/errors/0/details",
                    r#""This message type is not supported yet.""#,
                ),
            ],
        ),
        "wa-request-welcome.json" => wa_msg(
            MESSAGE_RECEIVED,
            "wamid.HBgLMTU1NTAwMDEyMzRXRUwwMDE=",
            1763381080,
            &[("/data/type", r#""request_welcome""#)],
        ),
        "wa-status-sent.json" => wa_status(
            "sent",
            1763381400,
            &[
                ("/data/status", r#""sent""#),
                ("/data/conversation/expiration_timestamp", r#""1763467800""#),
            ],
        ),
        "wa-status-delivered.json" => wa_status(
            "delivered",
            1763381402,
            &[("/data/status", r#""delivered""#)],
        ),
        "wa-status-read.json" => wa_status("read", 1763381440, &[("/data/status", r#""read""#)]),
        "wa-status-failed.json" => vec![exp(
            MESSAGE_STATUS,
            Whatsapp,
            format!("wa:status:{PN1}:wamid.HBgLMTU1NTAwMDEyMzRPVVQwMTE=:failed:1763381500"),
            ch(PN1),
            "wa:15550005678",
            Some(1763381500000),
            &[
                ("/data/status", r#""failed""#),
                (
                    "/data/recipient",
                    r#"{"id":"15550005678","wa_id":"15550005678","phone":"15550005678"}"#,
                ),
                ("/data/errors/0/code", "131047"),
                ("/data/errors/0/title", r#""Re-engagement message""#),
                ("/data/biz_opaque_callback_data", r#""bridge-msg-0007f3b""#),
                ("/contact/id", r#""15550005678""#),
            ],
        )],
        "wa-errors-value-level.json" => vec![exp(
            CHANNEL_ERROR,
            Whatsapp,
            format!("wa:err:{PN1}:h:"),
            ch(PN1),
            "channel",
            None,
            &[
                ("/data/code", "130429"),
                ("/data/title", r#""Rate limit hit""#),
                ("/data/message", r#""Rate limit hit""#),
                ("/contact", "null"),
            ],
        )],
        "wa-batched-2-entries.json" => batched_expectations(),
        "wa-template-status-update.json" => vec![exp(
            TEMPLATE_STATUS,
            Whatsapp,
            format!("wa:tpl:{WABA}:1689556908129835:REJECTED:1763381800"),
            waba(WABA),
            "channel",
            Some(1763381800000),
            &[
                ("/data/template_id", r#""1689556908129835""#),
                ("/data/template_name", r#""promo_black_friday""#),
                ("/data/language", r#""pt_BR""#),
                ("/data/event", r#""REJECTED""#),
                ("/data/reason", r#""INVALID_FORMAT""#),
                ("/data/category", r#""MARKETING""#),
                (
                    "/data/rejection_info/recommendation",
                    r#""Separate variables with descriptive text.""#,
                ),
            ],
        )],
        "wa-template-category-update.json" => vec![
            exp(
                TEMPLATE_CATEGORY,
                Whatsapp,
                format!("wa:tplc:{WABA}:1763381900:h:"),
                waba(WABA),
                "channel",
                Some(1763381900000),
                &[
                    ("/data/template_id", r#""1689556908129836""#),
                    ("/data/template_name", r#""order_update""#),
                    ("/data/language", r#""en_US""#),
                    ("/data/change", r#""impending""#),
                    ("/data/correct_category", r#""MARKETING""#),
                    ("/data/new_category", r#""UTILITY""#),
                    ("/data/category_update_timestamp", "1764073100"),
                ],
            ),
            exp(
                TEMPLATE_CATEGORY,
                Whatsapp,
                format!("wa:tplc:{WABA}:1763381900:h:"),
                waba(WABA),
                "channel",
                Some(1763381900000),
                &[
                    ("/data/template_id", r#""1689556908129837""#),
                    ("/data/change", r#""changed""#),
                    ("/data/previous_category", r#""UTILITY""#),
                    ("/data/new_category", r#""MARKETING""#),
                ],
            ),
        ],
        "wa-phone-number-quality-update.json" => vec![exp(
            CHANNEL_QUALITY,
            Whatsapp,
            format!("wa:quality:{WABA}:1763381900:h:"),
            waba(WABA),
            "channel",
            Some(1763381900000),
            &[
                ("/data/event", r#""THROUGHPUT_UPGRADE""#),
                ("/data/current_limit", r#""TIER_UNLIMITED""#),
                ("/data/display_phone_number", r#""15559990000""#),
            ],
        )],
        "wa-account-update.json" => vec![exp(
            ACCOUNT_UPDATED,
            Whatsapp,
            format!("wa:acct:{WABA}:1763382000:h:"),
            waba(WABA),
            "channel",
            Some(1763382000000),
            &[
                ("/data/event", r#""PARTNER_APP_UNINSTALLED""#),
                ("/data/waba_info/partner_app_id", r#""5731000000000001""#),
            ],
        )],
        // Coexistence webhooks (Meta's webhook references, read 2026-12-02).
        "wa-smb-message-echoes.json" => vec![exp(
            MESSAGE_ECHO,
            Whatsapp,
            format!("wa:msg:{PN1}:wamid.HBgLMTU1NTAwMDEyMzRFQ0gwMDE="),
            ch(PN1),
            "wa:15550001234",
            Some(1763381000000),
            &[
                ("/data/is_echo", "true"),
                ("/data/type", r#""text""#),
                ("/data/text", r#""Temos sim, no 42 e no 43.""#),
                ("/contact/id", r#""15550001234""#),
                ("/contact/phone", r#""15550001234""#),
            ],
        )],
        "wa-history.json" => vec![
            exp(
                MESSAGE_HISTORY,
                Whatsapp,
                format!("wa:hist:{PN1}:wamid.HBgLMTU1NTAwMDEyMzRISVMwMDE="),
                ch(PN1),
                "wa:15550001234",
                Some(1762000000000),
                &[
                    ("/data/direction", r#""inbound""#),
                    ("/data/text", r#""Vocês abrem sábado?""#),
                    (
                        "/data/history",
                        r#"{"phase": 1, "chunk_order": 1, "progress": 40, "status": "READ"}"#,
                    ),
                    ("/contact/id", r#""15550001234""#),
                ],
            ),
            exp(
                MESSAGE_HISTORY,
                Whatsapp,
                format!("wa:hist:{PN1}:wamid.HBgLMTU1NTAwMDEyMzRISVMwMDI="),
                ch(PN1),
                "wa:15550001234",
                Some(1762000300000),
                &[
                    ("/data/direction", r#""outbound""#),
                    ("/data/history/status", r#""DELIVERED""#),
                    ("/contact/wa_id", r#""15550001234""#),
                ],
            ),
        ],
        "wa-history-declined.json" => vec![exp(
            CHANNEL_ERROR,
            Whatsapp,
            format!("wa:err:{PN1}:h:"),
            ch(PN1),
            CHANNEL_CONVERSATION,
            None,
            &[
                ("/data/code", "2593109"),
                ("/data/title", r#""History sharing is turned off by user""#),
            ],
        )],
        "wa-smb-app-state-sync.json" => vec![
            exp(
                CONTACT_SYNCED,
                Whatsapp,
                format!("wa:sync:{PN1}:15550001234:add:1763380700"),
                ch(PN1),
                "wa:15550001234",
                Some(1763380700000),
                &[
                    ("/data/action", r#""add""#),
                    ("/data/full_name", r#""Ana Pereira""#),
                    ("/data/first_name", r#""Ana""#),
                    ("/contact/name", r#""Ana Pereira""#),
                    ("/contact/id", r#""15550001234""#),
                ],
            ),
            exp(
                CONTACT_SYNCED,
                Whatsapp,
                format!("wa:sync:{PN1}:15550005678:remove:1763380760"),
                ch(PN1),
                "wa:15550005678",
                Some(1763380760000),
                &[
                    ("/data/action", r#""remove""#),
                    ("/data/phone_number", r#""15550005678""#),
                ],
            ),
        ],
        "wa-user-preferences.json" => vec![exp(
            CONTACT_PREFERENCES,
            Whatsapp,
            format!("wa:pref:{PN1}:h:"),
            ch(PN1),
            "wa:15550005678",
            Some(1763382100000),
            &[
                ("/data/category", r#""marketing_messages""#),
                ("/data/value", r#""stop""#),
                ("/data/wa_id", r#""15550005678""#),
                ("/contact/id", r#""15550005678""#),
            ],
        )],
        "ig-text.json" => ig(
            MESSAGE_RECEIVED,
            format!("ig:msg:{IG}:{MID1}"),
            1763380801000,
            &[
                ("/data/type", r#""text""#),
                ("/data/text", r#""Oi! Esse vestido ainda tem no M?""#),
                ("/data/is_echo", "false"),
            ],
        ),
        "ig-attachment-image.json" => ig(
            MESSAGE_RECEIVED,
            format!("ig:msg:{IG}:{MID2}"),
            1763380802000,
            &[
                ("/data/type", r#""attachments""#),
                ("/data/attachments/0/type", r#""image""#),
                (
                    "/data/attachments/0/url",
                    r#""https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18000000000000001&signature=AbFakeSignature001""#,
                ),
                (
                    "/data/attachments/0/payload/url",
                    r#""https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18000000000000001&signature=AbFakeSignature001""#,
                ),
            ],
        ),
        "ig-echo.json" => ig(
            MESSAGE_ECHO,
            format!("ig:msg:{IG}:{MID3}"),
            1763380803000,
            &[
                ("/data/is_echo", "true"),
                ("/data/text", r#""Tem sim! Quer que eu separe?""#),
                ("/data/type", r#""text""#),
                ("/contact", r#"{"id":"6120000000000001"}"#),
            ],
        ),
        "ig-reaction.json" => ig(
            MESSAGE_REACTION,
            format!("ig:react:{IG}:6120000000000001:{MID3}:react:1763380804000"),
            1763380804000,
            &[
                ("/data/action", r#""react""#),
                ("/data/reaction", r#""love""#),
                ("/data/emoji", r#""\u2764\ufe0f""#),
                ("/data/removed", "false"),
            ],
        ),
        "ig-postback.json" => ig(
            MESSAGE_POSTBACK,
            format!("ig:postback:{IG}:aWdfZAG1faXRlbToxOkpostbackMid0001"),
            1763380805000,
            &[
                ("/data/title", r#""Falar com atendente""#),
                ("/data/payload", r#""HANDOFF_HUMAN""#),
                (
                    "/data/message_id",
                    r#""aWdfZAG1faXRlbToxOkpostbackMid0001""#,
                ),
            ],
        ),
        "ig-read.json" => ig(
            MESSAGE_STATUS,
            format!("ig:read:{IG}:6120000000000001:{MID3}"),
            1763380806000,
            &[("/data/status", r#""read""#)],
        ),
        "ig-deleted.json" => ig(
            MESSAGE_DELETED,
            format!("ig:del:{IG}:{MID1}"),
            1763380807000,
            &[("/data/type", r#""deleted""#)],
        ),
        "ig-story-reply.json" => ig(
            MESSAGE_RECEIVED,
            format!("ig:msg:{IG}:aWdfZAG1faXRlbToxOkStoryReplyMid0001"),
            1763380808000,
            &[
                ("/data/text", r#""Que lindo! Quanto custa?""#),
                ("/data/reply_to/story/id", r#""18100000000000001""#),
            ],
        ),
        "messenger-text.json" => vec![exp(
            MESSAGE_RECEIVED,
            Messenger,
            format!("fb:msg:{PAGE}:m_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
            ch(PAGE),
            "psid:7010000000000001",
            Some(1763380808900),
            &[
                ("/data/type", r#""text""#),
                ("/data/text", r#""Oi, voc\u00eas abrem s\u00e1bado?""#),
                ("/contact", r#"{"id":"7010000000000001"}"#),
            ],
        )],
        "messenger-delivery-read.json" => vec![
            exp(
                MESSAGE_STATUS,
                Messenger,
                format!("fb:delivery:{PAGE}:7010000000000001:1763380809300"),
                ch(PAGE),
                "psid:7010000000000001",
                Some(1763380809400),
                &[
                    ("/data/status", r#""delivered""#),
                    (
                        "/data/message_ids",
                        r#"["m_BbCdEfGhIjKlMnOpQrStUvWxYz0123456789"]"#,
                    ),
                    ("/data/watermark", "1763380809300"),
                ],
            ),
            exp(
                MESSAGE_STATUS,
                Messenger,
                format!("fb:read:{PAGE}:7010000000000001:1763380809300"),
                ch(PAGE),
                "psid:7010000000000001",
                Some(1763380809450),
                &[
                    ("/data/status", r#""read""#),
                    ("/data/watermark", "1763380809300"),
                ],
            ),
        ],
        "leadgen.json" => vec![exp(
            LEAD_RECEIVED,
            Messenger,
            "lead:1234567890123456",
            ch(PAGE),
            "lead:1234567890123456",
            Some(1763382795000),
            &[(
                "/data",
                r#"{"leadgen_id":"1234567890123456","form_id":"990000000000001","ad_id":"120210000000000101","adgroup_id":"120210000000000101","page_id":"105000000000001","created_time_ms":1763382795000}"#,
            )],
        )],
        _ => return None,
    })
}

fn batched_expectations() -> Vec<Exp> {
    use types::*;
    let m = |wamid: &str, pn: &str, conv: &str, at: i64, text: &'static str| {
        exp(
            MESSAGE_RECEIVED,
            Whatsapp,
            format!("wa:msg:{pn}:{wamid}"),
            ch(pn),
            conv,
            Some(at * 1000),
            &[("/data/text", text)],
        )
    };
    let s = |wamid: &str, pn: &str, conv: &str, status: &str, at: i64| {
        exp(
            MESSAGE_STATUS,
            Whatsapp,
            format!("wa:status:{pn}:{wamid}:{status}:{at}"),
            ch(pn),
            conv,
            Some(at * 1000),
            &[],
        )
    };
    let carla = "user:US.100000000000000003";
    vec![
        m(
            "wamid.HBgLMTU1NTAwMDEyMzRCQVQwMDE=",
            PN1,
            ANA,
            1763381700,
            r#""primeira mensagem""#,
        ),
        m(
            "wamid.HBgLMTU1NTAwMDEyMzRCQVQwMDI=",
            PN1,
            "user:US.100000000000000002",
            1763381701,
            r#""Bom dia!""#,
        ),
        exp(
            MESSAGE_RECEIVED,
            Whatsapp,
            format!("wa:msg:{PN1}:wamid.HBgLMTU1NTAwMDEyMzRCQVQwMDM="),
            ch(PN1),
            ANA,
            Some(1763381702000),
            &[
                ("/data/type", r#""image""#),
                ("/data/media/id", r#""1480000000000010""#),
            ],
        ),
        s(
            "wamid.HBgLMTU1NTAwMDEyMzRPVVQwMjA=",
            PN1,
            carla,
            "delivered",
            1763381703,
        ),
        s(
            "wamid.HBgLMTU1NTAwMDEyMzRPVVQwMjE=",
            PN1,
            ANA,
            "read",
            1763381704,
        ),
        m(
            "wamid.HBgLMTU1NTAwMDEyMzRCQVQwMDQ=",
            PN2,
            carla,
            1763381705,
            r#""Mensagem para o segundo n\u00famero""#,
        ),
        s(
            "wamid.HBgLMTU1NTAwMDEyMzRPVVQwMzA=",
            PN2,
            "wa:15550009876",
            "sent",
            1763381706,
        ),
    ]
}

pub(super) fn check_event(file: &str, i: usize, ev: &ParsedEvent, e: &Exp) {
    let ctx = format!("{file} event {i}");
    assert_eq!(ev.event_type(), e.t, "{ctx}: type");
    assert_eq!(ev.channel_kind, Some(e.kind), "{ctx}: kind");
    if let Some(prefix) = e.key.strip_suffix(":h:") {
        let rest = ev
            .idempotency_key
            .strip_prefix(&format!("{prefix}:h:"))
            .unwrap_or_else(|| panic!("{ctx}: key {} lacks {prefix}:h:", ev.idempotency_key));
        assert!(
            rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()),
            "{ctx}: hash part {rest}"
        );
    } else {
        assert_eq!(ev.idempotency_key, e.key, "{ctx}: key");
    }
    assert_eq!(ev.route, e.route, "{ctx}: route");
    assert_eq!(ev.conversation_key, e.conv, "{ctx}: conversation");
    assert_eq!(ev.occurred_at_ms, e.at, "{ctx}: occurred_at_ms");
    let whole = json!({ "data": ev.data, "contact": ev.contact, "raw": ev.raw });
    for (pointer, expected) in &e.checks {
        let expected: Value = serde_json::from_str(expected)
            .unwrap_or_else(|err| panic!("{ctx}: bad expectation {expected}: {err}"));
        assert_eq!(
            whole.pointer(pointer),
            Some(&expected),
            "{ctx}: {pointer} in {whole:#}"
        );
    }
}

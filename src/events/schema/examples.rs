//! The example of every `data` schema (shown in the OpenAPI document).

use poem_openapi::types::Example;
use serde_json::json;

use super::*;

fn s(v: &str) -> String {
    v.to_owned()
}

impl Example for MessageReceivedData {
    fn example() -> Self {
        MessageReceivedData {
            message_id: s(EX_WAMID),
            r#type: s("text"),
            text: Some(s("Olá! Vocês têm o tênis tamanho 42?")),
            ..Default::default()
        }
    }
}

impl Example for MessageEchoData {
    fn example() -> Self {
        MessageEchoData {
            message_id: s(EX_IG_MID),
            r#type: json!("text"),
            is_echo: true,
            bridge_message_id: Some(s(EX_MSG)),
            app_id: Some(s("5731000000000001")),
            metadata: Some(json!(EX_MSG)),
            text: Some(s("Temos sim! Qual cor?")),
            standby: Some(false),
            ..Default::default()
        }
    }
}

impl Example for MessageReactionData {
    fn example() -> Self {
        MessageReactionData {
            message_id: Some(s("wamid.HBgLMTU1NTAwMDEyMzRSRUEwMDE=")),
            r#type: s("reaction"),
            target_message_id: Some(s(EX_WAMID_OUT)),
            emoji: Some(json!("👍")),
            removed: false,
            ..Default::default()
        }
    }
}

impl Example for MessageStatusData {
    fn example() -> Self {
        MessageStatusData {
            message_id: Some(s(EX_WAMID_OUT)),
            status: s("delivered"),
            recipient: Some(wa_contact()),
            bridge_message_id: Some(s(EX_MSG)),
            biz_opaque_callback_data: Some(json!(EX_MSG)),
            ..Default::default()
        }
    }
}

impl Example for MessageEditedData {
    fn example() -> Self {
        MessageEditedData {
            message_id: Some(s(EX_IG_MID)),
            r#type: s("message_edit"),
            text: Some(json!("Tamanho 43, na verdade")),
            num_edit: Some(json!(1)),
            standby: Some(false),
            ..Default::default()
        }
    }
}

impl Example for MessageDeletedData {
    fn example() -> Self {
        MessageDeletedData {
            message_id: s(EX_IG_MID),
            r#type: s("deleted"),
            is_echo: Some(false),
            standby: Some(false),
            ..Default::default()
        }
    }
}

impl Example for MessagePostbackData {
    fn example() -> Self {
        MessagePostbackData {
            r#type: s("postback"),
            message_id: Some(s(EX_IG_MID)),
            title: Some(json!("Ver catálogo")),
            payload: Some(json!("SHOW_CATALOG")),
            referral: None,
            standby: false,
        }
    }
}

impl Example for MessageReferralData {
    fn example() -> Self {
        MessageReferralData {
            r#type: s("referral"),
            referral: json!({"ref": "black-friday", "source": "SHORTLINK", "type": "OPEN_THREAD"}),
            standby: false,
        }
    }
}

impl Example for MessageUnsupportedData {
    fn example() -> Self {
        MessageUnsupportedData {
            message_id: s("wamid.HBgLMTU1NTAwMDEyMzRVTlMwMDE="),
            r#type: json!("unsupported"),
            unsupported_type: Some(s("poll")),
            errors: Some(vec![MetaError {
                code: json!(131051),
                title: json!("Message type unknown"),
                message: json!("Message type unknown"),
                details: json!("Message type is currently not supported."),
                href: None,
            }]),
            ..Default::default()
        }
    }
}

impl Example for ContactChangedData {
    fn example() -> Self {
        ContactChangedData {
            message_id: s("wamid.HBgLMTU1NTAwMDEyMzRTWVMwMDE="),
            r#type: s("system"),
            system_type: json!("user_changed_number"),
            body: Some(json!("Ana changed their phone number")),
            new_wa_id: Some(s("15550005678")),
            ..Default::default()
        }
    }
}

impl Example for MessageHistoryData {
    fn example() -> Self {
        MessageHistoryData {
            message_id: s("wamid.HBgLMTU1NTAwMDEyMzRISVMwMDE="),
            r#type: json!("text"),
            direction: s("inbound"),
            history: HistorySync {
                phase: Some(json!(1)),
                chunk_order: Some(json!(1)),
                progress: Some(json!(40)),
                status: Some(json!("READ")),
            },
            text: Some(s("Vocês abrem sábado?")),
            ..Default::default()
        }
    }
}

impl Example for ContactSyncedData {
    fn example() -> Self {
        ContactSyncedData {
            r#type: s("contact"),
            action: json!("add"),
            full_name: Some(json!("Ana Pereira")),
            first_name: Some(json!("Ana")),
            phone_number: Some(s("15550001234")),
        }
    }
}

impl Example for ContactPreferencesData {
    fn example() -> Self {
        ContactPreferencesData {
            category: Some(json!("marketing_messages")),
            value: Some(json!("stop")),
            detail: Some(json!("User requested to stop marketing messages")),
            wa_id: Some(s("15550001234")),
            ..Default::default()
        }
    }
}

impl Example for ChannelErrorData {
    fn example() -> Self {
        ChannelErrorData {
            code: json!(131056),
            title: json!("(Business Account, Consumer Account) pair rate limit hit"),
            message: json!("(Business Account, Consumer Account) pair rate limit hit"),
            details: json!("Too many messages sent to this number."),
            ..Default::default()
        }
    }
}

impl Example for ChannelQualityData {
    fn example() -> Self {
        ChannelQualityData {
            event: json!("THROUGHPUT_UPGRADE"),
            display_phone_number: Some(json!("15559990000")),
            current_limit: Some(json!("TIER_UNLIMITED")),
            max_daily_conversations_per_business: Some(json!("TIER_UNLIMITED")),
            ..Default::default()
        }
    }
}

impl Example for AccountUpdatedData {
    fn example() -> Self {
        AccountUpdatedData {
            event: json!("PARTNER_APP_UNINSTALLED"),
            waba_info: Some(json!({"waba_id": "102000000000001",
                "owner_business_id": "2329000000000001", "partner_app_id": "5731000000000001"})),
            ..Default::default()
        }
    }
}

impl Example for TemplateStatusData {
    fn example() -> Self {
        TemplateStatusData {
            template_id: Some(s("1689556908129835")),
            template_name: json!("promo_black_friday"),
            language: json!("pt_BR"),
            event: json!("REJECTED"),
            reason: Some(json!("INVALID_FORMAT")),
            category: Some(json!("MARKETING")),
            ..Default::default()
        }
    }
}

impl Example for TemplateQualityData {
    fn example() -> Self {
        TemplateQualityData {
            template_id: Some(s("1689556908129835")),
            template_name: Some(json!("promo_black_friday")),
            language: Some(json!("pt_BR")),
            previous_quality_score: Some(json!("GREEN")),
            new_quality_score: Some(json!("YELLOW")),
        }
    }
}

impl Example for TemplateCategoryData {
    fn example() -> Self {
        TemplateCategoryData {
            template_id: Some(s("1689556908129835")),
            template_name: Some(json!("order_update")),
            language: Some(json!("en_US")),
            change: s("changed"),
            previous_category: Some(json!("UTILITY")),
            new_category: Some(json!("MARKETING")),
            ..Default::default()
        }
    }
}

impl Example for ThreadControlData {
    fn example() -> Self {
        ThreadControlData {
            action: s("take"),
            new_owner_app_id: Some(s("263902037430900")),
            previous_owner_app_id: Some(s("5731000000000001")),
            requested_owner_app_id: None,
            metadata: Some(json!("agent took over")),
            owned_by_bridge: Some(false),
            standby: false,
        }
    }
}

impl Example for LeadReceivedData {
    fn example() -> Self {
        let answers = [
            ("full_name", "Ana Pereira"),
            ("email", "ana.pereira@example.com"),
            ("phone_number", "+15550001234"),
        ];
        let labels = ["Full name", "Email", "Phone number"];
        LeadReceivedData {
            leadgen_id: s("1234567890123456"),
            form_id: Some(json!("990000000000001")),
            page_id: Some(s("105000000000001")),
            created_time_ms: Some(1_763_382_795_000),
            ad_id: Some(json!("120210000000000101")),
            adgroup_id: Some(s("120210000000000101")),
            field_data: answers
                .iter()
                .zip(labels)
                .map(|((k, v), label)| LeadField {
                    name: json!(k),
                    values: json!([v]),
                    label: Some(s(label)),
                    ..Default::default()
                })
                .collect(),
            fields: answers.iter().map(|(k, v)| (s(k), json!([v]))).collect(),
            created_time: Some(json!("2025-11-17T12:33:15+0000")),
            is_organic: Some(json!(false)),
            platform: Some(json!("ig")),
            adset_id: Some(json!("120210000000000102")),
            campaign_id: Some(json!("120210000000000103")),
            ad_fields: Some(LeadAdFields::Read),
        }
    }
}

impl Example for MetaUnsupportedData {
    fn example() -> Self {
        MetaUnsupportedData {
            reason: s("unknown_field"),
            field: Some(json!("business_capability_update")),
            ..Default::default()
        }
    }
}

impl Example for MessageSentData {
    fn example() -> Self {
        MessageSentData {
            bridge_message_id: s(EX_MSG),
            meta_message_id: Some(s(EX_WAMID_OUT)),
            channel_id: s(EX_CHANNEL),
            to: s("15550001234"),
            r#type: s("template"),
            client_reference: Some(s("order-4711")),
        }
    }
}

impl Example for MessageFailedData {
    fn example() -> Self {
        MessageFailedData {
            bridge_message_id: s(EX_MSG),
            meta_message_id: Some(s(EX_WAMID_OUT)),
            channel_id: s(EX_CHANNEL),
            to: s("15550001234"),
            r#type: s("text"),
            client_reference: None,
            error: SendError {
                code: s("131047"),
                meta_code: Some(131_047),
                meta_subcode: None,
                reason: s("More than 24 hours have passed since the customer last replied."),
            },
        }
    }
}

impl Example for ChannelUpdatedData {
    fn example() -> Self {
        ChannelUpdatedData {
            channel_id: s(EX_CHANNEL),
            status: s("paused"),
            previous_status: s("active"),
            reason: s("Meta restricted sending on this account (code 131048): Spam rate limit hit"),
            connection: s("connected"),
            send_state: s("paused"),
            previous_send_state: s("sending"),
            send_paused_until: Some(s("2026-12-02T10:15:00.000Z")),
        }
    }
}

impl Example for ChannelDisconnectedData {
    fn example() -> Self {
        ChannelDisconnectedData {
            channel_id: s(EX_CHANNEL),
            reason: s("removed by the instance"),
        }
    }
}

impl Example for ChannelConnectedData {
    fn example() -> Self {
        ChannelConnectedData {
            channel_id: s(EX_CHANNEL),
            kind: s("whatsapp"),
            external_id: s(EX_PNID),
            waba_id: Some(s("102000000000001")),
            name: Some(s("+1 555-999-0000")),
            status: s("active"),
            connect_session_id: s("cs_0197a0c4f2b37c4d9e5f6a7b8c9d0e1f"),
            reconnected: false,
            ..Default::default()
        }
    }
}

impl Example for ChannelTokenExpiringData {
    fn example() -> Self {
        ChannelTokenExpiringData {
            channel_id: s(EX_CHANNEL),
            expires_at: s("2025-12-01T09:00:00Z"),
            reason: s(
                "the access token expires and cannot be refreshed automatically: connect the channel again before then",
            ),
        }
    }
}

impl Example for ChannelSubscriptionRestoredData {
    fn example() -> Self {
        ChannelSubscriptionRestoredData {
            channel_id: s(EX_CHANNEL),
            reason: s(
                "Meta had removed the app's webhook subscription (usually after repeated delivery failures); it was restored. Messages sent while it was missing may not have been received.",
            ),
        }
    }
}

impl Example for ChannelBackfillData {
    fn example() -> Self {
        ChannelBackfillData {
            channel_id: s(EX_CHANNEL),
            trigger: s("gap"),
            since: s("2026-11-17T06:00:00Z"),
            until: s("2026-11-17T12:30:00Z"),
            form_ids: vec![s("990000000000001")],
            found: 12,
            relayed: 3,
            duplicates: 9,
            failed_forms: vec![],
            truncated: false,
        }
    }
}

//! Outbound messages: the request body of `POST /v1/messages` (as OpenAPI types), its
//! validation against Meta's per-channel rules, and the exact Graph API body it becomes.
//!
//! Pure code: no I/O, no clock, no configuration. [`render`] either returns the JSON to POST to
//! `/{phone-number-id}/messages` (WhatsApp) or `/{page-or-ig-id}/messages` (Instagram,
//! Messenger), or the first [`Violation`] found, in a fixed order (request fields in declaration
//! order, then nested fields in document order). Violations name the field and the limit, never
//! the caller's content.

use std::collections::HashSet;

use poem_openapi::types::{Example, ToJSON};
use poem_openapi::{Enum, Object, Union};
use serde_json::{Map, Value, json};

use crate::channels::ChannelKind;

// ---------------------------------------------------------------------------------------------
// Request types
// ---------------------------------------------------------------------------------------------

/// A message to send to a customer through one of the bridge's channels.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct SendMessageRequest {
    /// Id of the bridge channel to send through (`ch_…`). Its kind (WhatsApp, Instagram or
    /// Messenger) decides which message types and fields are accepted.
    pub channel_id: String,
    /// Recipient.
    ///
    /// - WhatsApp: a phone number with country code (digits; a leading `+`, spaces, dashes and
    ///   parentheses are ignored), a business-scoped user id (a two-letter country code, a dot
    ///   and 1 to 128 letters or digits, e.g. `BR.13491208655302741918`; `CC.ENT.…` for a parent
    ///   id) exactly as received in webhooks, or `group:<group id>` for a group.
    /// - Instagram / Messenger: the customer's scoped id (IGSID / PSID) as received in webhooks.
    pub to: String,
    /// The message; its `type` selects the variant.
    pub message: OutboundMessage,
    /// Id of a message to quote (WhatsApp `wamid…`, Instagram/Messenger `mid`). Not allowed for
    /// `reaction`, `mark_read` and sender actions.
    pub reply_to: Option<String>,
    /// Instagram / Messenger only: message tag that allows sending outside the 24-hour window.
    /// Instagram accepts only `human_agent`.
    pub tag: Option<MessageTag>,
    /// Send even if the bridge considers the customer-service window closed (Meta may still
    /// reject the message).
    pub ignore_window: Option<bool>,
    /// Free text of your own (at most 256 characters), echoed back in the response and in status
    /// events. Never sent to Meta.
    pub client_reference: Option<String>,
}

impl Example for SendMessageRequest {
    fn example() -> Self {
        SendMessageRequest {
            channel_id: "ch_0198f3a2b4c57d8e9f0a1b2c3d4e5f60".into(),
            to: "+55 11 98888-7777".into(),
            message: OutboundMessage::Text(TextMessage {
                body: "Temos sim! Quer que eu reserve?".into(),
                preview_url: None,
                quick_replies: None,
            }),
            reply_to: None,
            tag: None,
            ignore_window: None,
            client_reference: Some("crm-ticket-4411".into()),
        }
    }
}

/// Message tag (Instagram / Messenger) for sending outside the standard 24-hour window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MessageTag {
    /// A human agent answering up to 7 days after the customer's last message (Instagram and
    /// Messenger; the app feature must be approved).
    HumanAgent,
    /// Messenger only: reminder or update about an event the customer registered for.
    ConfirmedEventUpdate,
    /// Messenger only: update about a recent purchase.
    PostPurchaseUpdate,
    /// Messenger only: non-recurring change to the customer's account or application.
    AccountUpdate,
}

impl MessageTag {
    /// The Graph API value (`HUMAN_AGENT`, …).
    pub fn graph_value(self) -> &'static str {
        match self {
            MessageTag::HumanAgent => "HUMAN_AGENT",
            MessageTag::ConfirmedEventUpdate => "CONFIRMED_EVENT_UPDATE",
            MessageTag::PostPurchaseUpdate => "POST_PURCHASE_UPDATE",
            MessageTag::AccountUpdate => "ACCOUNT_UPDATE",
        }
    }
}

/// The message to send, selected by `type`.
#[derive(Debug, Clone, PartialEq, Union)]
#[oai(discriminator_name = "type", one_of)]
pub enum OutboundMessage {
    /// Plain text (all channels).
    #[oai(mapping = "text")]
    Text(TextMessage),
    /// Image (all channels).
    #[oai(mapping = "image")]
    Image(ImageMessage),
    /// Video (all channels).
    #[oai(mapping = "video")]
    Video(VideoMessage),
    /// Audio (all channels).
    #[oai(mapping = "audio")]
    Audio(AudioMessage),
    /// Document / file (all channels).
    #[oai(mapping = "document")]
    Document(DocumentMessage),
    /// Sticker (WhatsApp only).
    #[oai(mapping = "sticker")]
    Sticker(StickerMessage),
    /// Location pin (WhatsApp only).
    #[oai(mapping = "location")]
    Location(LocationMessage),
    /// Contact cards (WhatsApp only).
    #[oai(mapping = "contacts")]
    Contacts(ContactsMessage),
    /// Interactive reply buttons (WhatsApp only).
    #[oai(mapping = "buttons")]
    Buttons(ButtonsMessage),
    /// Interactive list (WhatsApp only).
    #[oai(mapping = "list")]
    List(ListMessage),
    /// Interactive call-to-action URL button (WhatsApp only).
    #[oai(mapping = "cta_url")]
    CtaUrl(CtaUrlMessage),
    /// Approved template (WhatsApp only).
    #[oai(mapping = "template")]
    Template(TemplateMessage),
    /// Reaction to a message (all channels).
    #[oai(mapping = "reaction")]
    Reaction(ReactionMessage),
    /// Read receipt, optionally with a typing indicator (WhatsApp only).
    #[oai(mapping = "mark_read")]
    MarkRead(MarkReadMessage),
    /// Typing indicator on (Instagram / Messenger only).
    #[oai(mapping = "typing_on")]
    TypingOn(TypingOnAction),
    /// Typing indicator off (Instagram / Messenger only).
    #[oai(mapping = "typing_off")]
    TypingOff(TypingOffAction),
    /// Mark the conversation as seen (Instagram / Messenger only).
    #[oai(mapping = "mark_seen")]
    MarkSeen(MarkSeenAction),
}

impl OutboundMessage {
    /// The `type` of this message as sent by the client (`text`, `cta_url`, `mark_read`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            OutboundMessage::Text(_) => "text",
            OutboundMessage::Image(_) => "image",
            OutboundMessage::Video(_) => "video",
            OutboundMessage::Audio(_) => "audio",
            OutboundMessage::Document(_) => "document",
            OutboundMessage::Sticker(_) => "sticker",
            OutboundMessage::Location(_) => "location",
            OutboundMessage::Contacts(_) => "contacts",
            OutboundMessage::Buttons(_) => "buttons",
            OutboundMessage::List(_) => "list",
            OutboundMessage::CtaUrl(_) => "cta_url",
            OutboundMessage::Template(_) => "template",
            OutboundMessage::Reaction(_) => "reaction",
            OutboundMessage::MarkRead(_) => "mark_read",
            OutboundMessage::TypingOn(_) => "typing_on",
            OutboundMessage::TypingOff(_) => "typing_off",
            OutboundMessage::MarkSeen(_) => "mark_seen",
        }
    }
}

/// A text message.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TextMessage {
    /// The text. At most 4096 characters on WhatsApp, 2000 characters on Messenger and 1000
    /// bytes (UTF-8) on Instagram.
    pub body: String,
    /// WhatsApp only: render a preview of the first URL in `body`.
    pub preview_url: Option<bool>,
    /// Instagram / Messenger only: up to 13 quick-reply chips shown under the message.
    pub quick_replies: Option<Vec<QuickReply>>,
}

/// A quick-reply chip (Instagram / Messenger).
#[derive(Debug, Clone, PartialEq, Object)]
pub struct QuickReply {
    /// Label shown to the customer, at most 20 characters.
    pub title: String,
    /// Value delivered back in the customer's reply webhook, at most 1000 characters.
    pub payload: String,
}

/// An image. Give exactly one of `media_id` (WhatsApp only) or `link`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ImageMessage {
    /// WhatsApp only: id of media uploaded to the WhatsApp business number.
    pub media_id: Option<String>,
    /// Public `https://` URL that Meta downloads.
    pub link: Option<String>,
    /// WhatsApp only: caption, at most 1024 characters.
    pub caption: Option<String>,
}

/// A video. Give exactly one of `media_id` (WhatsApp only) or `link`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VideoMessage {
    /// WhatsApp only: id of media uploaded to the WhatsApp business number.
    pub media_id: Option<String>,
    /// Public `https://` URL that Meta downloads.
    pub link: Option<String>,
    /// WhatsApp only: caption, at most 1024 characters.
    pub caption: Option<String>,
}

/// An audio clip. Give exactly one of `media_id` (WhatsApp only) or `link`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AudioMessage {
    /// WhatsApp only: id of media uploaded to the WhatsApp business number.
    pub media_id: Option<String>,
    /// Public `https://` URL that Meta downloads.
    pub link: Option<String>,
}

/// A document (sent as a `file` attachment on Instagram / Messenger). Give exactly one of
/// `media_id` (WhatsApp only) or `link`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DocumentMessage {
    /// WhatsApp only: id of media uploaded to the WhatsApp business number.
    pub media_id: Option<String>,
    /// Public `https://` URL that Meta downloads.
    pub link: Option<String>,
    /// WhatsApp only: caption, at most 1024 characters.
    pub caption: Option<String>,
    /// WhatsApp only: file name shown to the customer, at most 255 characters.
    pub filename: Option<String>,
}

/// A sticker (WhatsApp only, webp). Give exactly one of `media_id` or `link`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StickerMessage {
    /// Id of media uploaded to the WhatsApp business number.
    pub media_id: Option<String>,
    /// Public `https://` URL that Meta downloads.
    pub link: Option<String>,
}

/// A location pin (WhatsApp only).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LocationMessage {
    /// Latitude in degrees, from -90 to 90.
    pub latitude: f64,
    /// Longitude in degrees, from -180 to 180.
    pub longitude: f64,
    /// Name of the place.
    pub name: Option<String>,
    /// Address of the place.
    pub address: Option<String>,
}

/// One or more contact cards (WhatsApp only).
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ContactsMessage {
    /// The cards, at least one.
    pub contacts: Vec<ContactCard>,
}

/// A contact card, in WhatsApp's contact format.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ContactCard {
    /// The contact's name.
    pub name: ContactName,
    /// Phone numbers.
    pub phones: Option<Vec<ContactPhone>>,
    /// E-mail addresses.
    pub emails: Option<Vec<ContactEmail>>,
    /// Organisation.
    pub org: Option<ContactOrg>,
    /// Web sites.
    pub urls: Option<Vec<ContactUrl>>,
}

/// Name of a contact. Meta requires `formatted_name` and at least one of `first_name`,
/// `last_name`, `middle_name`, `suffix` or `prefix`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ContactName {
    /// Full name as displayed (required).
    pub formatted_name: String,
    /// First name.
    pub first_name: Option<String>,
    /// Middle name.
    pub middle_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Name suffix, e.g. `Jr.`.
    pub suffix: Option<String>,
    /// Name prefix, e.g. `Dr.`.
    pub prefix: Option<String>,
}

/// A phone number of a contact.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ContactPhone {
    /// The number as displayed, e.g. `+1 555 000 9876`.
    pub phone: String,
    /// Kind of number, e.g. `CELL`, `MAIN`, `HOME`, `WORK`.
    #[oai(rename = "type")]
    pub kind: Option<String>,
    /// WhatsApp id (digits) of the number, which adds a "Message" button to the card.
    pub wa_id: Option<String>,
}

/// An e-mail address of a contact.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ContactEmail {
    /// The address.
    pub email: String,
    /// Kind of address, e.g. `HOME`, `WORK`.
    #[oai(rename = "type")]
    pub kind: Option<String>,
}

/// Organisation of a contact.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ContactOrg {
    /// Company name.
    pub company: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub title: Option<String>,
}

/// A web site of a contact.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ContactUrl {
    /// The URL.
    pub url: String,
    /// Kind of site, e.g. `HOME`, `WORK`.
    #[oai(rename = "type")]
    pub kind: Option<String>,
}

/// Header of an interactive message (WhatsApp), selected by `type`.
#[derive(Debug, Clone, PartialEq, Union)]
#[oai(discriminator_name = "type", one_of)]
pub enum InteractiveHeader {
    /// Text header.
    #[oai(mapping = "text")]
    Text(HeaderText),
    /// Image header.
    #[oai(mapping = "image")]
    Image(HeaderImage),
    /// Video header.
    #[oai(mapping = "video")]
    Video(HeaderVideo),
    /// Document header.
    #[oai(mapping = "document")]
    Document(HeaderDocument),
}

/// Text header of an interactive message.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct HeaderText {
    /// The header text, at most 60 characters.
    pub text: String,
}

/// Image header of an interactive message. Give exactly one of `media_id` or `link`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HeaderImage {
    /// Id of media uploaded to the WhatsApp business number.
    pub media_id: Option<String>,
    /// Public `https://` URL that Meta downloads.
    pub link: Option<String>,
}

/// Video header of an interactive message. Give exactly one of `media_id` or `link`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HeaderVideo {
    /// Id of media uploaded to the WhatsApp business number.
    pub media_id: Option<String>,
    /// Public `https://` URL that Meta downloads.
    pub link: Option<String>,
}

/// Document header of an interactive message. Give exactly one of `media_id` or `link`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HeaderDocument {
    /// Id of media uploaded to the WhatsApp business number.
    pub media_id: Option<String>,
    /// Public `https://` URL that Meta downloads.
    pub link: Option<String>,
    /// File name shown to the customer, at most 255 characters.
    pub filename: Option<String>,
}

/// Message with up to three reply buttons (WhatsApp).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ButtonsMessage {
    /// Message text, at most 1024 characters.
    pub body: String,
    /// Optional header.
    pub header: Option<InteractiveHeader>,
    /// Footer text, at most 60 characters.
    pub footer: Option<String>,
    /// One to three buttons; ids must be unique.
    pub buttons: Vec<ReplyButton>,
}

/// A reply button.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ReplyButton {
    /// Id delivered back when the customer taps the button, at most 256 characters.
    pub id: String,
    /// Label, at most 20 characters.
    pub title: String,
}

/// Message with a list of options behind a button (WhatsApp).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ListMessage {
    /// Message text, at most 1024 characters.
    pub body: String,
    /// Header text (lists only support text headers), at most 60 characters.
    pub header: Option<String>,
    /// Footer text, at most 60 characters.
    pub footer: Option<String>,
    /// Label of the button that opens the list, at most 20 characters.
    pub button: String,
    /// One to ten sections holding one to ten rows in total.
    pub sections: Vec<ListSection>,
}

/// A section of a list.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ListSection {
    /// Section title, at most 24 characters; required when there is more than one section.
    pub title: Option<String>,
    /// The rows of this section, at least one.
    pub rows: Vec<ListRow>,
}

/// A selectable row of a list.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ListRow {
    /// Id delivered back when the customer picks the row, at most 200 characters, unique in
    /// the list.
    pub id: String,
    /// Row title, at most 24 characters.
    pub title: String,
    /// Row description, at most 72 characters.
    pub description: Option<String>,
}

/// Message with a button that opens a URL (WhatsApp).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CtaUrlMessage {
    /// Message text, at most 1024 characters.
    pub body: String,
    /// Optional header.
    pub header: Option<InteractiveHeader>,
    /// Footer text, at most 60 characters.
    pub footer: Option<String>,
    /// Button label, at most 20 characters.
    pub display_text: String,
    /// `https://` URL opened by the button.
    pub url: String,
}

/// An approved message template (WhatsApp). The only message type allowed outside the
/// customer-service window.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateMessage {
    /// Template name (lowercase letters, digits and `_`).
    pub name: String,
    /// Language code of an approved translation, exactly as registered (e.g. `pt_BR`, `en_US`,
    /// `es`).
    pub language: String,
    /// Values for the template's variables, per component.
    pub components: Option<Vec<TemplateComponent>>,
}

/// Parameters for one component of a template.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateComponent {
    /// Which component the parameters belong to.
    #[oai(rename = "type")]
    pub kind: TemplateComponentType,
    /// Buttons only (required there): the kind of button.
    pub sub_type: Option<TemplateButtonSubType>,
    /// Buttons only (required there): position of the button in the template, 0 to 9.
    pub index: Option<u32>,
    /// The parameters, in the template's order.
    pub parameters: Vec<TemplateParameter>,
}

/// Template component kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
#[oai(rename_all = "snake_case")]
pub enum TemplateComponentType {
    /// The header.
    Header,
    /// The body.
    Body,
    /// A button (give `sub_type` and `index`).
    Button,
}

impl TemplateComponentType {
    fn as_str(self) -> &'static str {
        match self {
            TemplateComponentType::Header => "header",
            TemplateComponentType::Body => "body",
            TemplateComponentType::Button => "button",
        }
    }
}

/// Template button kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum TemplateButtonSubType {
    /// Quick-reply button (parameter: `payload`).
    QuickReply,
    /// URL button with a dynamic suffix (parameter: `text`).
    Url,
    /// Copy-code button (parameter: `coupon_code`).
    CopyCode,
    /// WhatsApp Flow button (parameter: `action` with `flow_token`?, `flow_action_data`?).
    Flow,
    /// Catalog button (parameter: `action` with `thumbnail_product_retailer_id`?).
    Catalog,
    /// Multi-product message button (parameter: `action` with `thumbnail_product_retailer_id`
    /// and `sections`).
    Mpm,
}

impl TemplateButtonSubType {
    fn as_str(self) -> &'static str {
        match self {
            TemplateButtonSubType::QuickReply => "quick_reply",
            TemplateButtonSubType::Url => "url",
            TemplateButtonSubType::CopyCode => "copy_code",
            TemplateButtonSubType::Flow => "flow",
            TemplateButtonSubType::Catalog => "catalog",
            TemplateButtonSubType::Mpm => "mpm",
        }
    }
}

/// A value for a template variable, selected by `type`.
#[derive(Debug, Clone, PartialEq, Union)]
#[oai(discriminator_name = "type", one_of)]
pub enum TemplateParameter {
    /// Text.
    #[oai(mapping = "text")]
    Text(TemplateTextParameter),
    /// Amount of money.
    #[oai(mapping = "currency")]
    Currency(TemplateCurrencyParameter),
    /// Date and time.
    #[oai(mapping = "date_time")]
    DateTime(TemplateDateTimeParameter),
    /// Image (header).
    #[oai(mapping = "image")]
    Image(TemplateImageParameter),
    /// Video (header).
    #[oai(mapping = "video")]
    Video(TemplateVideoParameter),
    /// Document (header).
    #[oai(mapping = "document")]
    Document(TemplateDocumentParameter),
    /// Location (header).
    #[oai(mapping = "location")]
    Location(TemplateLocationParameter),
    /// Payload of a quick-reply button.
    #[oai(mapping = "payload")]
    Payload(TemplatePayloadParameter),
    /// Code of a copy-code button.
    #[oai(mapping = "coupon_code")]
    CouponCode(TemplateCouponCodeParameter),
    /// Action of a `flow`, `catalog` or `mpm` button (the only parameter those buttons take).
    #[oai(mapping = "action")]
    Action(TemplateActionParameter),
}

/// The `action` of a template button of sub-type `flow`, `catalog` or `mpm`, as Meta documents
/// the button parameter (`{"type": "action", "action": {…}}`):
/// - `flow`: `flow_token`? and `flow_action_data`? (an object: data for the first screen);
/// - `catalog`: `thumbnail_product_retailer_id`? (the product shown as thumbnail);
/// - `mpm` (multi-product): `thumbnail_product_retailer_id` and `sections` (1 to 10, at most
///   30 products in all).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateActionParameter {
    /// `flow` buttons: the token that identifies the flow session in its replies.
    pub flow_token: Option<String>,
    /// `flow` buttons: a JSON object of data for the flow's first screen.
    pub flow_action_data: Option<Value>,
    /// `catalog` and `mpm` buttons: retailer id (SKU) of the product whose image is the
    /// thumbnail; required for `mpm`.
    pub thumbnail_product_retailer_id: Option<String>,
    /// `mpm` buttons (required there): the product sections.
    pub sections: Option<Vec<TemplateProductSection>>,
}

/// A section of products of a multi-product (`mpm`) template button.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct TemplateProductSection {
    /// Section title, at most 24 characters.
    pub title: String,
    /// The products, by retailer id (SKU).
    pub product_items: Vec<TemplateProductItem>,
}

/// One product of a multi-product template button.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct TemplateProductItem {
    /// The product's retailer id (SKU) in the catalog.
    pub product_retailer_id: String,
}

/// Text value of a template variable.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateTextParameter {
    /// The text.
    pub text: String,
    /// For templates with named variables: the variable's name (lowercase letters, digits, `_`).
    pub parameter_name: Option<String>,
}

/// Money value of a template variable.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct TemplateCurrencyParameter {
    /// Text shown when the amount cannot be localised, e.g. `R$ 99,90`.
    pub fallback_value: String,
    /// ISO 4217 currency code, three uppercase letters, e.g. `BRL`.
    pub code: String,
    /// The amount multiplied by 1000 (99.90 → 99900).
    pub amount_1000: i64,
}

/// Date/time value of a template variable.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct TemplateDateTimeParameter {
    /// The date as shown to the customer, e.g. `17 nov 2026`.
    pub fallback_value: String,
}

/// Image for a template header. Give exactly one of `media_id` or `link`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateImageParameter {
    /// Id of media uploaded to the WhatsApp business number.
    pub media_id: Option<String>,
    /// Public `https://` URL that Meta downloads.
    pub link: Option<String>,
}

/// Video for a template header. Give exactly one of `media_id` or `link`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateVideoParameter {
    /// Id of media uploaded to the WhatsApp business number.
    pub media_id: Option<String>,
    /// Public `https://` URL that Meta downloads.
    pub link: Option<String>,
}

/// Document for a template header. Give exactly one of `media_id` or `link`.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateDocumentParameter {
    /// Id of media uploaded to the WhatsApp business number.
    pub media_id: Option<String>,
    /// Public `https://` URL that Meta downloads.
    pub link: Option<String>,
    /// File name shown to the customer, at most 255 characters.
    pub filename: Option<String>,
}

/// Location for a template header.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateLocationParameter {
    /// Latitude in degrees, from -90 to 90.
    pub latitude: f64,
    /// Longitude in degrees, from -180 to 180.
    pub longitude: f64,
    /// Name of the place.
    pub name: Option<String>,
    /// Address of the place.
    pub address: Option<String>,
}

/// Payload of a template quick-reply button, delivered back when the customer taps it.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct TemplatePayloadParameter {
    /// The payload.
    pub payload: String,
}

/// Code copied by a template copy-code button.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct TemplateCouponCodeParameter {
    /// The code.
    pub coupon_code: String,
}

/// A reaction to a message. An empty `emoji` removes your reaction.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ReactionMessage {
    /// Id of the message reacted to (WhatsApp `wamid…`, Instagram/Messenger `mid`).
    pub message_id: String,
    /// The emoji, or `""` to remove the reaction.
    pub emoji: String,
}

/// Read receipt for a received message (WhatsApp). Marks earlier messages read too.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MarkReadMessage {
    /// Id (`wamid…`) of the received message.
    pub message_id: String,
    /// Also show a typing indicator (until you reply, at most 25 seconds).
    pub typing_indicator: Option<bool>,
}

/// Typing indicator on (Instagram / Messenger). No fields.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct TypingOnAction {}

/// Typing indicator off (Instagram / Messenger). No fields.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct TypingOffAction {}

/// Mark the conversation as seen (Instagram / Messenger). No fields.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct MarkSeenAction {}

// ---------------------------------------------------------------------------------------------
// Channel kinds, violations, rendered bodies
// ---------------------------------------------------------------------------------------------

/// Whether `message` can be sent on a channel of `kind`.
pub fn kind_allows(kind: ChannelKind, message: &OutboundMessage) -> bool {
    use OutboundMessage as M;
    match kind {
        ChannelKind::Whatsapp => {
            !matches!(message, M::TypingOn(_) | M::TypingOff(_) | M::MarkSeen(_))
        }
        ChannelKind::Instagram | ChannelKind::Messenger => matches!(
            message,
            M::Text(_)
                | M::Image(_)
                | M::Video(_)
                | M::Audio(_)
                | M::Document(_)
                | M::Reaction(_)
                | M::TypingOn(_)
                | M::TypingOff(_)
                | M::MarkSeen(_)
        ),
    }
}

/// Machine codes of [`Violation::rule`].
pub mod rule {
    /// A required field is missing or empty.
    pub const REQUIRED: &str = "required";
    /// A string is longer than allowed.
    pub const MAX_LENGTH: &str = "max_length";
    /// A list has more items than allowed (the field names the first item too many).
    pub const TOO_MANY: &str = "too_many";
    /// A list has fewer items than required.
    pub const TOO_FEW: &str = "too_few";
    /// The message type or field cannot be used on this kind of channel.
    pub const NOT_ALLOWED_FOR_CHANNEL: &str = "not_allowed_for_channel";
    /// The field does not apply to this message or component.
    pub const NOT_ALLOWED: &str = "not_allowed";
    /// Exactly one of two alternative fields must be given.
    pub const ONE_OF_REQUIRED: &str = "one_of_required";
    /// The value does not have the expected shape.
    pub const INVALID_FORMAT: &str = "invalid_format";
    /// A number is outside its allowed range.
    pub const OUT_OF_RANGE: &str = "out_of_range";
    /// A value that must be unique appears twice.
    pub const DUPLICATE: &str = "duplicate";
    /// A URL must use `https://`.
    pub const HTTPS_REQUIRED: &str = "https_required";
}

/// Why a request cannot be sent: the first broken rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path of the offending field in the request, e.g. `message.sections[0].rows[2].title`.
    pub field: String,
    /// Machine code, one of [`rule`].
    pub rule: &'static str,
    /// Human sentence stating the rule (never echoes the caller's content).
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for Violation {}

/// A validated request, ready to POST.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Exactly the JSON body to POST to `/{id}/messages`.
    pub body: Value,
    /// The request's message type (`text`, `template`, `mark_read`, …).
    pub message_type: &'static str,
    /// Meta accepts this only inside the customer-service window (24 h; 7 days with the
    /// `human_agent` tag). False for WhatsApp templates, read receipts and typing/seen actions.
    pub free_form: bool,
    /// Meta's answer carries a message id (false for read receipts, sender actions and
    /// Instagram/Messenger reactions).
    pub expects_message_id: bool,
    /// WhatsApp: `to` is a business-scoped user id, sent as `"recipient"` instead of `"to"`
    /// (the send response then carries `user_id` rather than `wa_id`).
    pub recipient_is_user_id: bool,
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

const MAX_BRIDGE_ID: usize = 512;
const MAX_CHANNEL_ID: usize = 64;
/// Longest `to`: a parent BSUID (`CC.ENT.` and 128 alphanumerics) fits.
const MAX_WA_TO: usize = 140;
const MAX_SCOPED_ID: usize = 64;
const MAX_MESSAGE_ID: usize = 512;
const MAX_CLIENT_REFERENCE: usize = 256;
const MAX_WA_TEXT: usize = 4096;
const MAX_MESSENGER_TEXT: usize = 2000;
const MAX_INSTAGRAM_TEXT_BYTES: usize = 1000;
const MAX_QUICK_REPLIES: usize = 13;
const MAX_QUICK_REPLY_TITLE: usize = 20;
const MAX_QUICK_REPLY_PAYLOAD: usize = 1000;
const MAX_CAPTION: usize = 1024;
const MAX_FILENAME: usize = 255;
const MAX_MEDIA_ID: usize = 64;

/// Whether `id` has the shape of a WhatsApp media id: what `POST /{phone-number-id}/media`
/// answers and inbound media carry, 1–64 ASCII digits (e.g. `1480000000000001`). Nothing
/// else is accepted, so no id can carry a path (`../`, `/`, `?`, `#`, `%2e`) or a query
/// towards Meta.
pub fn is_media_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_MEDIA_ID && id.bytes().all(|b| b.is_ascii_digit())
}
const MAX_URL: usize = 2048;
const MAX_PLACE_TEXT: usize = 1000;
const MAX_CONTACT_FIELD: usize = 256;
const MAX_INTERACTIVE_BODY: usize = 1024;
const MAX_HEADER_TEXT: usize = 60;
const MAX_FOOTER: usize = 60;
const MAX_BUTTONS: usize = 3;
const MAX_BUTTON_TITLE: usize = 20;
const MAX_BUTTON_ID: usize = 256;
const MAX_LIST_BUTTON: usize = 20;
const MAX_SECTIONS: usize = 10;
const MAX_ROWS: usize = 10;
const MAX_SECTION_TITLE: usize = 24;
const MAX_ROW_TITLE: usize = 24;
const MAX_ROW_DESCRIPTION: usize = 72;
const MAX_ROW_ID: usize = 200;
const MAX_CTA_DISPLAY_TEXT: usize = 20;
const MAX_TEMPLATE_NAME: usize = 512;
const MAX_TEMPLATE_INDEX: u32 = 9;
const MAX_TEMPLATE_TEXT: usize = 32768;
const MAX_TEMPLATE_SHORT: usize = 1000;
const MAX_EMOJI: usize = 32;

// ---------------------------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------------------------

type Check = Result<(), Violation>;

fn violation(
    field: impl Into<String>,
    rule: &'static str,
    message: impl Into<String>,
) -> Violation {
    Violation {
        field: field.into(),
        rule,
        message: message.into(),
    }
}

/// More than `max` Unicode scalar values (stops counting early).
fn over_chars(s: &str, max: usize) -> bool {
    s.chars().nth(max).is_some()
}

fn has_bad_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Free text (bodies, captions): not blank, at most `max` characters.
fn text(field: &str, s: &str, max: usize) -> Check {
    if s.trim().is_empty() {
        return Err(violation(field, rule::REQUIRED, "must not be empty"));
    }
    if over_chars(s, max) {
        return Err(violation(
            field,
            rule::MAX_LENGTH,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// Labels and ids: free text without control characters (other than newline and tab).
fn label(field: &str, s: &str, max: usize) -> Check {
    text(field, s, max)?;
    if has_bad_control(s) {
        return Err(violation(
            field,
            rule::INVALID_FORMAT,
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn opt_text(field: &str, s: Option<&String>, max: usize) -> Check {
    s.map_or(Ok(()), |s| text(field, s, max))
}

fn opt_label(field: &str, s: Option<&String>, max: usize) -> Check {
    s.map_or(Ok(()), |s| label(field, s, max))
}

/// A public `https://` URL.
fn https_url(field: &str, s: &str) -> Check {
    if s.trim().is_empty() {
        return Err(violation(field, rule::REQUIRED, "must not be empty"));
    }
    if over_chars(s, MAX_URL) {
        return Err(violation(
            field,
            rule::MAX_LENGTH,
            format!("must be at most {MAX_URL} characters"),
        ));
    }
    let Some(rest) = s
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .and_then(|_| s.get(8..))
    else {
        return Err(violation(
            field,
            rule::HTTPS_REQUIRED,
            "must be an https:// URL",
        ));
    };
    if rest.is_empty()
        || rest.starts_with('/')
        || rest.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(violation(
            field,
            rule::INVALID_FORMAT,
            "must be a valid https:// URL without spaces",
        ));
    }
    Ok(())
}

fn lat_lon(prefix: &str, latitude: f64, longitude: f64) -> Check {
    if !(latitude.is_finite() && (-90.0..=90.0).contains(&latitude)) {
        return Err(violation(
            format!("{prefix}.latitude"),
            rule::OUT_OF_RANGE,
            "must be between -90 and 90",
        ));
    }
    if !(longitude.is_finite() && (-180.0..=180.0).contains(&longitude)) {
        return Err(violation(
            format!("{prefix}.longitude"),
            rule::OUT_OF_RANGE,
            "must be between -180 and 180",
        ));
    }
    Ok(())
}

fn lowercase_identifier(field: &str, s: &str, max: usize, what: &str) -> Check {
    text(field, s, max)?;
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(violation(
            field,
            rule::INVALID_FORMAT,
            format!("{what} may only contain lowercase letters, digits and underscores"),
        ));
    }
    Ok(())
}

/// `ll`, `lll`, `ll_CC`, `ll_419`-style language codes.
fn is_language_code(s: &str) -> bool {
    let (lang, region) = match s.split_once('_') {
        Some((lang, region)) => (lang, Some(region)),
        None => (s, None),
    };
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && region.is_none_or(|r| {
            (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

fn not_for_channel(field: &str, kind: ChannelKind, what: &str) -> Violation {
    violation(
        field,
        rule::NOT_ALLOWED_FOR_CHANNEL,
        format!("{what} cannot be used on {}", kind.display_name()),
    )
}

fn not_allowed(field: &str, what: &str) -> Violation {
    violation(field, rule::NOT_ALLOWED, what.to_string())
}

fn insert_opt(map: &mut Map<String, Value>, key: &str, value: Option<&String>) {
    if let Some(v) = value {
        map.insert(key.to_string(), Value::String(v.clone()));
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Validates `req` for a channel of `kind` and builds the Graph API body.
/// `bridge_message_id` is the bridge's id of the outbound message, sent as
/// `biz_opaque_callback_data` (WhatsApp) or `message.metadata` (Instagram/Messenger) so that
/// statuses and echoes can be correlated.
pub fn render(
    kind: ChannelKind,
    req: &SendMessageRequest,
    bridge_message_id: &str,
) -> Result<Rendered, Violation> {
    label("bridge_message_id", bridge_message_id, MAX_BRIDGE_ID)?;
    check_channel_id(&req.channel_id)?;
    match kind {
        ChannelKind::Whatsapp => render_whatsapp(req, bridge_message_id),
        ChannelKind::Instagram | ChannelKind::Messenger => {
            render_social(kind, req, bridge_message_id)
        }
    }
}

/// Canonical form of a JSON request (object keys sorted at every level, no whitespace), for
/// hashing into an idempotency fingerprint. Independent of `serde_json`'s map ordering.
pub fn request_fingerprint(req_json: &Value) -> String {
    let mut out = String::new();
    write_canonical(req_json, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn check_channel_id(id: &str) -> Check {
    if id.is_empty() {
        return Err(violation("channel_id", rule::REQUIRED, "must not be empty"));
    }
    if over_chars(id, MAX_CHANNEL_ID) {
        return Err(violation(
            "channel_id",
            rule::MAX_LENGTH,
            format!("must be at most {MAX_CHANNEL_ID} characters"),
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(violation(
            "channel_id",
            rule::INVALID_FORMAT,
            "must be a channel id (letters, digits and underscores)",
        ));
    }
    Ok(())
}

fn check_type_allowed(kind: ChannelKind, message: &OutboundMessage) -> Check {
    if kind_allows(kind, message) {
        Ok(())
    } else {
        Err(not_for_channel(
            "message.type",
            kind,
            &format!("`{}` messages", message.type_name()),
        ))
    }
}

fn check_client_reference(req: &SendMessageRequest) -> Check {
    match &req.client_reference {
        Some(r) if over_chars(r, MAX_CLIENT_REFERENCE) => Err(violation(
            "client_reference",
            rule::MAX_LENGTH,
            format!("must be at most {MAX_CLIENT_REFERENCE} characters"),
        )),
        // Stored as given: no control characters (PostgreSQL cannot store a NUL, and one
        // bad row would fail the whole group commit it shares with other requests).
        Some(r) if r.chars().any(char::is_control) => Err(violation(
            "client_reference",
            rule::INVALID_FORMAT,
            "must not contain control characters",
        )),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// WhatsApp
// ---------------------------------------------------------------------------------------------

enum WaRecipient {
    Phone(String),
    UserId(String),
    Group(String),
}

fn wa_recipient(to: &str) -> Result<WaRecipient, Violation> {
    if to.trim().is_empty() {
        return Err(violation("to", rule::REQUIRED, "must not be empty"));
    }
    if over_chars(to, MAX_WA_TO) {
        return Err(violation(
            "to",
            rule::MAX_LENGTH,
            format!("must be at most {MAX_WA_TO} characters"),
        ));
    }
    if let Some(group) = to.strip_prefix("group:") {
        if group.is_empty() || !group.chars().all(|c| c.is_ascii_graphic()) {
            return Err(violation(
                "to",
                rule::INVALID_FORMAT,
                "must be `group:` followed by a group id without spaces",
            ));
        }
        return Ok(WaRecipient::Group(group.to_string()));
    }
    if crate::meta::bsuid::is_bsuid(to) {
        return Ok(WaRecipient::UserId(to.to_string()));
    }
    let cleaned: String = to
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    if (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(WaRecipient::Phone(digits.to_string()));
    }
    Err(violation(
        "to",
        rule::INVALID_FORMAT,
        "must be a phone number with country code (5 to 20 digits), a business-scoped user id (CC. and 1 to 128 letters or digits) or group:<id>",
    ))
}

/// `{"id": …}` or `{"link": …}` for a WhatsApp media object; `prefix` is the object's path.
fn wa_media_source(
    prefix: &str,
    media_id: Option<&String>,
    link: Option<&String>,
) -> Result<Map<String, Value>, Violation> {
    let mut map = Map::new();
    match (media_id, link) {
        (Some(id), None) => {
            let field = format!("{prefix}.media_id");
            label(&field, id, MAX_MEDIA_ID)?;
            if !is_media_id(id) {
                return Err(violation(
                    field,
                    rule::INVALID_FORMAT,
                    "must be a Meta media id (digits only)",
                ));
            }
            map.insert("id".into(), Value::String(id.clone()));
        }
        (None, Some(link)) => {
            https_url(&format!("{prefix}.link"), link)?;
            map.insert("link".into(), Value::String(link.clone()));
        }
        (None, None) => {
            return Err(violation(
                prefix,
                rule::ONE_OF_REQUIRED,
                "one of media_id or link is required",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(violation(
                prefix,
                rule::ONE_OF_REQUIRED,
                "give either media_id or link, not both",
            ));
        }
    }
    Ok(map)
}

fn wa_filename(prefix: &str, filename: Option<&String>, map: &mut Map<String, Value>) -> Check {
    opt_label(&format!("{prefix}.filename"), filename, MAX_FILENAME)?;
    insert_opt(map, "filename", filename);
    Ok(())
}

fn wa_caption(caption: Option<&String>, map: &mut Map<String, Value>) -> Check {
    opt_text("message.caption", caption, MAX_CAPTION)?;
    insert_opt(map, "caption", caption);
    Ok(())
}

fn wa_header(header: &InteractiveHeader) -> Result<Value, Violation> {
    const P: &str = "message.header";
    Ok(match header {
        InteractiveHeader::Text(h) => {
            text("message.header.text", &h.text, MAX_HEADER_TEXT)?;
            json!({"type": "text", "text": h.text})
        }
        InteractiveHeader::Image(h) => {
            let media = wa_media_source(P, h.media_id.as_ref(), h.link.as_ref())?;
            json!({"type": "image", "image": media})
        }
        InteractiveHeader::Video(h) => {
            let media = wa_media_source(P, h.media_id.as_ref(), h.link.as_ref())?;
            json!({"type": "video", "video": media})
        }
        InteractiveHeader::Document(h) => {
            let mut media = wa_media_source(P, h.media_id.as_ref(), h.link.as_ref())?;
            wa_filename(P, h.filename.as_ref(), &mut media)?;
            json!({"type": "document", "document": media})
        }
    })
}

/// `header`, `body`, `footer` of an interactive message.
fn wa_interactive_frame(
    kind: &str,
    body: &str,
    header: Option<Value>,
    footer: Option<&String>,
) -> Result<Map<String, Value>, Violation> {
    text("message.body", body, MAX_INTERACTIVE_BODY)?;
    opt_text("message.footer", footer, MAX_FOOTER)?;
    let mut map = Map::new();
    map.insert("type".into(), kind.into());
    if let Some(header) = header {
        map.insert("header".into(), header);
    }
    map.insert("body".into(), json!({"text": body}));
    if let Some(footer) = footer {
        map.insert("footer".into(), json!({"text": footer}));
    }
    Ok(map)
}

fn wa_buttons(m: &ButtonsMessage) -> Result<Value, Violation> {
    let header = m.header.as_ref().map(wa_header).transpose()?;
    let mut interactive = wa_interactive_frame("button", &m.body, header, m.footer.as_ref())?;
    if m.buttons.is_empty() {
        return Err(violation(
            "message.buttons",
            rule::TOO_FEW,
            "at least 1 button is required",
        ));
    }
    if m.buttons.len() > MAX_BUTTONS {
        return Err(violation(
            format!("message.buttons[{MAX_BUTTONS}]"),
            rule::TOO_MANY,
            format!("at most {MAX_BUTTONS} buttons"),
        ));
    }
    let mut ids = HashSet::new();
    let mut buttons = Vec::with_capacity(m.buttons.len());
    for (i, b) in m.buttons.iter().enumerate() {
        let id_field = format!("message.buttons[{i}].id");
        label(&id_field, &b.id, MAX_BUTTON_ID)?;
        label(
            &format!("message.buttons[{i}].title"),
            &b.title,
            MAX_BUTTON_TITLE,
        )?;
        if !ids.insert(b.id.as_str()) {
            return Err(violation(
                id_field,
                rule::DUPLICATE,
                "button ids must be unique",
            ));
        }
        buttons.push(json!({"type": "reply", "reply": {"id": b.id, "title": b.title}}));
    }
    interactive.insert("action".into(), json!({"buttons": buttons}));
    Ok(Value::Object(interactive))
}

fn wa_list(m: &ListMessage) -> Result<Value, Violation> {
    opt_text("message.header", m.header.as_ref(), MAX_HEADER_TEXT)?;
    let header = m
        .header
        .as_ref()
        .map(|t| json!({"type": "text", "text": t}));
    let mut interactive = wa_interactive_frame("list", &m.body, header, m.footer.as_ref())?;
    label("message.button", &m.button, MAX_LIST_BUTTON)?;
    if m.sections.is_empty() {
        return Err(violation(
            "message.sections",
            rule::TOO_FEW,
            "at least 1 section is required",
        ));
    }
    if m.sections.len() > MAX_SECTIONS {
        return Err(violation(
            format!("message.sections[{MAX_SECTIONS}]"),
            rule::TOO_MANY,
            format!("at most {MAX_SECTIONS} sections"),
        ));
    }
    let many = m.sections.len() > 1;
    let mut total_rows = 0usize;
    let mut ids = HashSet::new();
    let mut sections = Vec::with_capacity(m.sections.len());
    for (s, section) in m.sections.iter().enumerate() {
        let prefix = format!("message.sections[{s}]");
        match &section.title {
            Some(title) => label(&format!("{prefix}.title"), title, MAX_SECTION_TITLE)?,
            None if many => {
                return Err(violation(
                    format!("{prefix}.title"),
                    rule::REQUIRED,
                    "a title is required for every section when there is more than one",
                ));
            }
            None => {}
        }
        if section.rows.is_empty() {
            return Err(violation(
                format!("{prefix}.rows"),
                rule::TOO_FEW,
                "every section needs at least 1 row",
            ));
        }
        let mut rows = Vec::with_capacity(section.rows.len());
        for (r, row) in section.rows.iter().enumerate() {
            let row_prefix = format!("{prefix}.rows[{r}]");
            total_rows += 1;
            if total_rows > MAX_ROWS {
                return Err(violation(
                    row_prefix,
                    rule::TOO_MANY,
                    format!("at most {MAX_ROWS} rows in total"),
                ));
            }
            let id_field = format!("{row_prefix}.id");
            label(&id_field, &row.id, MAX_ROW_ID)?;
            label(&format!("{row_prefix}.title"), &row.title, MAX_ROW_TITLE)?;
            opt_text(
                &format!("{row_prefix}.description"),
                row.description.as_ref(),
                MAX_ROW_DESCRIPTION,
            )?;
            if !ids.insert(row.id.as_str()) {
                return Err(violation(
                    id_field,
                    rule::DUPLICATE,
                    "row ids must be unique in the list",
                ));
            }
            let mut out = Map::new();
            out.insert("id".into(), row.id.clone().into());
            out.insert("title".into(), row.title.clone().into());
            insert_opt(&mut out, "description", row.description.as_ref());
            rows.push(Value::Object(out));
        }
        let mut out = Map::new();
        insert_opt(&mut out, "title", section.title.as_ref());
        out.insert("rows".into(), Value::Array(rows));
        sections.push(Value::Object(out));
    }
    interactive.insert(
        "action".into(),
        json!({"button": m.button, "sections": sections}),
    );
    Ok(Value::Object(interactive))
}

fn wa_cta_url(m: &CtaUrlMessage) -> Result<Value, Violation> {
    let header = m.header.as_ref().map(wa_header).transpose()?;
    let mut interactive = wa_interactive_frame("cta_url", &m.body, header, m.footer.as_ref())?;
    label(
        "message.display_text",
        &m.display_text,
        MAX_CTA_DISPLAY_TEXT,
    )?;
    https_url("message.url", &m.url)?;
    interactive.insert(
        "action".into(),
        json!({"name": "cta_url", "parameters": {"display_text": m.display_text, "url": m.url}}),
    );
    Ok(Value::Object(interactive))
}

fn wa_location(
    prefix: &str,
    lat: f64,
    lon: f64,
    name: Option<&String>,
    address: Option<&String>,
) -> Result<Value, Violation> {
    lat_lon(prefix, lat, lon)?;
    opt_text(&format!("{prefix}.name"), name, MAX_PLACE_TEXT)?;
    opt_text(&format!("{prefix}.address"), address, MAX_PLACE_TEXT)?;
    let mut map = Map::new();
    map.insert("latitude".into(), json!(lat));
    map.insert("longitude".into(), json!(lon));
    insert_opt(&mut map, "name", name);
    insert_opt(&mut map, "address", address);
    Ok(Value::Object(map))
}

fn wa_contacts(m: &ContactsMessage) -> Result<Value, Violation> {
    if m.contacts.is_empty() {
        return Err(violation(
            "message.contacts",
            rule::TOO_FEW,
            "at least 1 contact is required",
        ));
    }
    let mut out = Vec::with_capacity(m.contacts.len());
    for (i, c) in m.contacts.iter().enumerate() {
        let p = format!("message.contacts[{i}]");
        text(
            &format!("{p}.name.formatted_name"),
            &c.name.formatted_name,
            MAX_CONTACT_FIELD,
        )?;
        wa_contact_name_parts(&p, &c.name)?;
        for (j, phone) in c.phones.iter().flatten().enumerate() {
            text(
                &format!("{p}.phones[{j}].phone"),
                &phone.phone,
                MAX_CONTACT_FIELD,
            )?;
            if let Some(wa_id) = &phone.wa_id
                && (wa_id.is_empty()
                    || wa_id.len() > 20
                    || !wa_id.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(violation(
                    format!("{p}.phones[{j}].wa_id"),
                    rule::INVALID_FORMAT,
                    "must be 1 to 20 digits",
                ));
            }
        }
        for (j, email) in c.emails.iter().flatten().enumerate() {
            text(
                &format!("{p}.emails[{j}].email"),
                &email.email,
                MAX_CONTACT_FIELD,
            )?;
        }
        for (j, url) in c.urls.iter().flatten().enumerate() {
            text(&format!("{p}.urls[{j}].url"), &url.url, MAX_URL)?;
        }
        out.push(c.to_json().unwrap_or_default());
    }
    Ok(Value::Array(out))
}

/// Meta: "Contacts messages", WhatsApp Business Platform,
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/contacts-messages>
/// (read 2026-12-02): the `name` object needs `formatted_name` and at least one of
/// `first_name`, `last_name`, `middle_name`, `suffix`, `prefix` (Meta refuses the card
/// otherwise). Checked here so the caller gets a 422 instead of a failed send later.
fn wa_contact_name_parts(p: &str, name: &ContactName) -> Check {
    let parts = [
        ("first_name", &name.first_name),
        ("middle_name", &name.middle_name),
        ("last_name", &name.last_name),
        ("suffix", &name.suffix),
        ("prefix", &name.prefix),
    ];
    let mut any = false;
    for (key, value) in parts {
        if let Some(v) = value {
            text(&format!("{p}.name.{key}"), v, MAX_CONTACT_FIELD)?;
            any = true;
        }
    }
    if any {
        Ok(())
    } else {
        Err(violation(
            format!("{p}.name.first_name"),
            rule::REQUIRED,
            "a contact name needs first_name, last_name, middle_name, suffix or prefix \
             besides formatted_name",
        ))
    }
}

fn wa_template(m: &TemplateMessage) -> Result<Value, Violation> {
    lowercase_identifier(
        "message.name",
        &m.name,
        MAX_TEMPLATE_NAME,
        "a template name",
    )?;
    if !is_language_code(&m.language) {
        return Err(if m.language.is_empty() {
            violation("message.language", rule::REQUIRED, "must not be empty")
        } else {
            violation(
                "message.language",
                rule::INVALID_FORMAT,
                "must be a language code such as pt_BR, en_US or es",
            )
        });
    }
    let mut template = Map::new();
    template.insert("name".into(), m.name.clone().into());
    template.insert("language".into(), json!({"code": m.language}));
    let components = m.components.as_deref().unwrap_or_default();
    if !components.is_empty() {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(components.len());
        for (i, c) in components.iter().enumerate() {
            out.push(wa_template_component(i, c, &mut seen)?);
        }
        template.insert("components".into(), Value::Array(out));
    }
    Ok(Value::Object(template))
}

fn wa_template_component(
    i: usize,
    c: &TemplateComponent,
    seen: &mut HashSet<(TemplateComponentType, u32)>,
) -> Result<Value, Violation> {
    let p = format!("message.components[{i}]");
    let mut out = Map::new();
    out.insert("type".into(), c.kind.as_str().into());
    match c.kind {
        TemplateComponentType::Button => {
            let Some(sub_type) = c.sub_type else {
                return Err(violation(
                    format!("{p}.sub_type"),
                    rule::REQUIRED,
                    "sub_type is required for button components",
                ));
            };
            let Some(index) = c.index else {
                return Err(violation(
                    format!("{p}.index"),
                    rule::REQUIRED,
                    "index is required for button components",
                ));
            };
            if index > MAX_TEMPLATE_INDEX {
                return Err(violation(
                    format!("{p}.index"),
                    rule::OUT_OF_RANGE,
                    format!("must be between 0 and {MAX_TEMPLATE_INDEX}"),
                ));
            }
            if !seen.insert((c.kind, index)) {
                return Err(violation(
                    format!("{p}.index"),
                    rule::DUPLICATE,
                    "only one component per button index",
                ));
            }
            out.insert("sub_type".into(), sub_type.as_str().into());
            out.insert("index".into(), index.to_string().into());
        }
        TemplateComponentType::Header | TemplateComponentType::Body => {
            if c.sub_type.is_some() {
                return Err(not_allowed(
                    &format!("{p}.sub_type"),
                    "sub_type only applies to button components",
                ));
            }
            if c.index.is_some() {
                return Err(not_allowed(
                    &format!("{p}.index"),
                    "index only applies to button components",
                ));
            }
            if !seen.insert((c.kind, 0)) {
                return Err(violation(
                    format!("{p}.type"),
                    rule::DUPLICATE,
                    "only one header and one body component",
                ));
            }
        }
    }
    let action_button = match (c.kind, c.sub_type) {
        (TemplateComponentType::Button, Some(st)) => matches!(
            st,
            TemplateButtonSubType::Flow
                | TemplateButtonSubType::Catalog
                | TemplateButtonSubType::Mpm
        )
        .then_some(st),
        _ => None,
    };
    let mut params = Vec::with_capacity(c.parameters.len());
    for (j, param) in c.parameters.iter().enumerate() {
        let pp = format!("{p}.parameters[{j}]");
        let value = match (param, action_button) {
            (TemplateParameter::Action(a), Some(st)) => {
                if j > 0 {
                    return Err(violation(
                        pp,
                        rule::TOO_MANY,
                        "flow, catalog and mpm buttons take exactly one `action` parameter",
                    ));
                }
                wa_template_action(&pp, st, a)?
            }
            (TemplateParameter::Action(_), None) => {
                return Err(not_allowed(
                    &format!("{pp}.type"),
                    "an `action` parameter only applies to flow, catalog and mpm buttons",
                ));
            }
            (_, Some(_)) => {
                return Err(violation(
                    format!("{pp}.type"),
                    rule::INVALID_FORMAT,
                    "flow, catalog and mpm buttons take an `action` parameter",
                ));
            }
            (_, None) => wa_template_parameter(&pp, param)?,
        };
        params.push(value);
    }
    if action_button.is_some() && params.is_empty() {
        return Err(violation(
            format!("{p}.parameters"),
            rule::REQUIRED,
            "flow, catalog and mpm buttons take an `action` parameter",
        ));
    }
    out.insert("parameters".into(), Value::Array(params));
    Ok(Value::Object(out))
}

/// Most products in all sections of a multi-product button.
const MAX_MPM_PRODUCTS: usize = 30;

/// `{"type": "action", "action": {…}}` of a flow / catalog / mpm template button. Meta: "Sending
/// a Flow" (WhatsApp Flows),
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/flows/guides/sendingaflow/>;
/// "Catalog templates",
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/catalogs/catalog-template-messages>;
/// "Multi-product message templates",
/// <https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/marketing-templates/mpm-templates>
/// (read 2026-12-02).
fn wa_template_action(
    p: &str,
    sub_type: TemplateButtonSubType,
    a: &TemplateActionParameter,
) -> Result<Value, Violation> {
    let f = |k: &str| format!("{p}.{k}");
    let not_for = |k: &str| {
        not_allowed(
            &f(k),
            &format!("{k} does not apply to {} buttons", sub_type.as_str()),
        )
    };
    let mut action = Map::new();
    match sub_type {
        TemplateButtonSubType::Flow => {
            if a.thumbnail_product_retailer_id.is_some() {
                return Err(not_for("thumbnail_product_retailer_id"));
            }
            if a.sections.is_some() {
                return Err(not_for("sections"));
            }
            if let Some(token) = &a.flow_token {
                label(&f("flow_token"), token, MAX_TEMPLATE_SHORT)?;
                action.insert("flow_token".into(), token.clone().into());
            }
            if let Some(data) = &a.flow_action_data {
                if !data.is_object() {
                    return Err(violation(
                        f("flow_action_data"),
                        rule::INVALID_FORMAT,
                        "must be a JSON object",
                    ));
                }
                action.insert("flow_action_data".into(), data.clone());
            }
        }
        TemplateButtonSubType::Catalog | TemplateButtonSubType::Mpm => {
            if a.flow_token.is_some() {
                return Err(not_for("flow_token"));
            }
            if a.flow_action_data.is_some() {
                return Err(not_for("flow_action_data"));
            }
            let mpm = sub_type == TemplateButtonSubType::Mpm;
            match &a.thumbnail_product_retailer_id {
                Some(id) => {
                    label(&f("thumbnail_product_retailer_id"), id, MAX_TEMPLATE_SHORT)?;
                    action.insert("thumbnail_product_retailer_id".into(), id.clone().into());
                }
                None if mpm => {
                    return Err(violation(
                        f("thumbnail_product_retailer_id"),
                        rule::REQUIRED,
                        "thumbnail_product_retailer_id is required for mpm buttons",
                    ));
                }
                None => {}
            }
            match (&a.sections, mpm) {
                (Some(_), false) => return Err(not_for("sections")),
                (None, true) => {
                    return Err(violation(
                        f("sections"),
                        rule::REQUIRED,
                        "sections are required for mpm buttons",
                    ));
                }
                (None, false) => {}
                (Some(sections), true) => {
                    if sections.is_empty() {
                        return Err(violation(
                            f("sections"),
                            rule::TOO_FEW,
                            "at least 1 section is required",
                        ));
                    }
                    if sections.len() > MAX_SECTIONS {
                        return Err(violation(
                            f(&format!("sections[{MAX_SECTIONS}]")),
                            rule::TOO_MANY,
                            format!("at most {MAX_SECTIONS} sections"),
                        ));
                    }
                    let mut total = 0;
                    let mut out = Vec::with_capacity(sections.len());
                    for (k, section) in sections.iter().enumerate() {
                        let sp = f(&format!("sections[{k}]"));
                        label(&format!("{sp}.title"), &section.title, MAX_SECTION_TITLE)?;
                        if section.product_items.is_empty() {
                            return Err(violation(
                                format!("{sp}.product_items"),
                                rule::TOO_FEW,
                                "at least 1 product is required",
                            ));
                        }
                        let mut items = Vec::with_capacity(section.product_items.len());
                        for (n, item) in section.product_items.iter().enumerate() {
                            total += 1;
                            let ip = format!("{sp}.product_items[{n}]");
                            if total > MAX_MPM_PRODUCTS {
                                return Err(violation(
                                    ip,
                                    rule::TOO_MANY,
                                    format!("at most {MAX_MPM_PRODUCTS} products in all sections"),
                                ));
                            }
                            label(
                                &format!("{ip}.product_retailer_id"),
                                &item.product_retailer_id,
                                MAX_TEMPLATE_SHORT,
                            )?;
                            items.push(json!({"product_retailer_id": item.product_retailer_id}));
                        }
                        out.push(json!({"title": section.title, "product_items": items}));
                    }
                    action.insert("sections".into(), Value::Array(out));
                }
            }
        }
        _ => {}
    }
    Ok(json!({"type": "action", "action": action}))
}

fn wa_template_parameter(p: &str, param: &TemplateParameter) -> Result<Value, Violation> {
    Ok(match param {
        TemplateParameter::Text(t) => {
            text(&format!("{p}.text"), &t.text, MAX_TEMPLATE_TEXT)?;
            let mut out = Map::new();
            out.insert("type".into(), "text".into());
            if let Some(name) = &t.parameter_name {
                lowercase_identifier(
                    &format!("{p}.parameter_name"),
                    name,
                    MAX_TEMPLATE_SHORT,
                    "a parameter name",
                )?;
                out.insert("parameter_name".into(), name.clone().into());
            }
            out.insert("text".into(), t.text.clone().into());
            Value::Object(out)
        }
        TemplateParameter::Currency(c) => {
            text(
                &format!("{p}.fallback_value"),
                &c.fallback_value,
                MAX_TEMPLATE_SHORT,
            )?;
            if c.code.len() != 3 || !c.code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(violation(
                    format!("{p}.code"),
                    rule::INVALID_FORMAT,
                    "must be an ISO 4217 code of 3 uppercase letters",
                ));
            }
            json!({"type": "currency", "currency": {
                "fallback_value": c.fallback_value, "code": c.code, "amount_1000": c.amount_1000}})
        }
        TemplateParameter::DateTime(d) => {
            text(
                &format!("{p}.fallback_value"),
                &d.fallback_value,
                MAX_TEMPLATE_SHORT,
            )?;
            json!({"type": "date_time", "date_time": {"fallback_value": d.fallback_value}})
        }
        TemplateParameter::Image(m) => {
            let media = wa_media_source(p, m.media_id.as_ref(), m.link.as_ref())?;
            json!({"type": "image", "image": media})
        }
        TemplateParameter::Video(m) => {
            let media = wa_media_source(p, m.media_id.as_ref(), m.link.as_ref())?;
            json!({"type": "video", "video": media})
        }
        TemplateParameter::Document(m) => {
            let mut media = wa_media_source(p, m.media_id.as_ref(), m.link.as_ref())?;
            wa_filename(p, m.filename.as_ref(), &mut media)?;
            json!({"type": "document", "document": media})
        }
        TemplateParameter::Location(l) => {
            let location = wa_location(
                p,
                l.latitude,
                l.longitude,
                l.name.as_ref(),
                l.address.as_ref(),
            )?;
            json!({"type": "location", "location": location})
        }
        TemplateParameter::Payload(x) => {
            label(&format!("{p}.payload"), &x.payload, MAX_TEMPLATE_SHORT)?;
            json!({"type": "payload", "payload": x.payload})
        }
        TemplateParameter::CouponCode(x) => {
            label(
                &format!("{p}.coupon_code"),
                &x.coupon_code,
                MAX_TEMPLATE_SHORT,
            )?;
            json!({"type": "coupon_code", "coupon_code": x.coupon_code})
        }
        // Checked and rendered by the caller (wa_template_action), which knows the button.
        TemplateParameter::Action(_) => {
            return Err(not_allowed(
                &format!("{p}.type"),
                "an `action` parameter only applies to flow, catalog and mpm buttons",
            ));
        }
    })
}

fn check_emoji(emoji: &str) -> Check {
    if over_chars(emoji, MAX_EMOJI) {
        return Err(violation(
            "message.emoji",
            rule::MAX_LENGTH,
            format!("must be at most {MAX_EMOJI} characters"),
        ));
    }
    if emoji.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(violation(
            "message.emoji",
            rule::INVALID_FORMAT,
            "must be a single emoji, or empty to remove the reaction",
        ));
    }
    Ok(())
}

/// The `type` value and the object under that key.
fn wa_content(message: &OutboundMessage) -> Result<(&'static str, Value), Violation> {
    use OutboundMessage as M;
    const P: &str = "message";
    Ok(match message {
        M::Text(m) => {
            text("message.body", &m.body, MAX_WA_TEXT)?;
            if m.quick_replies.is_some() {
                return Err(not_for_channel(
                    "message.quick_replies",
                    ChannelKind::Whatsapp,
                    "quick_replies",
                ));
            }
            let mut map = Map::new();
            if let Some(preview) = m.preview_url {
                map.insert("preview_url".into(), preview.into());
            }
            map.insert("body".into(), m.body.clone().into());
            ("text", Value::Object(map))
        }
        M::Image(m) => {
            let mut map = wa_media_source(P, m.media_id.as_ref(), m.link.as_ref())?;
            wa_caption(m.caption.as_ref(), &mut map)?;
            ("image", Value::Object(map))
        }
        M::Video(m) => {
            let mut map = wa_media_source(P, m.media_id.as_ref(), m.link.as_ref())?;
            wa_caption(m.caption.as_ref(), &mut map)?;
            ("video", Value::Object(map))
        }
        M::Audio(m) => (
            "audio",
            Value::Object(wa_media_source(P, m.media_id.as_ref(), m.link.as_ref())?),
        ),
        M::Document(m) => {
            let mut map = wa_media_source(P, m.media_id.as_ref(), m.link.as_ref())?;
            wa_caption(m.caption.as_ref(), &mut map)?;
            wa_filename(P, m.filename.as_ref(), &mut map)?;
            ("document", Value::Object(map))
        }
        M::Sticker(m) => (
            "sticker",
            Value::Object(wa_media_source(P, m.media_id.as_ref(), m.link.as_ref())?),
        ),
        M::Location(m) => (
            "location",
            wa_location(
                P,
                m.latitude,
                m.longitude,
                m.name.as_ref(),
                m.address.as_ref(),
            )?,
        ),
        M::Contacts(m) => ("contacts", wa_contacts(m)?),
        M::Buttons(m) => ("interactive", wa_buttons(m)?),
        M::List(m) => ("interactive", wa_list(m)?),
        M::CtaUrl(m) => ("interactive", wa_cta_url(m)?),
        M::Template(m) => ("template", wa_template(m)?),
        M::Reaction(m) => {
            label("message.message_id", &m.message_id, MAX_MESSAGE_ID)?;
            check_emoji(&m.emoji)?;
            (
                "reaction",
                json!({"message_id": m.message_id, "emoji": m.emoji}),
            )
        }
        // Rendered by the caller; the type check has refused the sender actions already.
        M::MarkRead(_) | M::TypingOn(_) | M::TypingOff(_) | M::MarkSeen(_) => {
            return Err(not_for_channel(
                "message.type",
                ChannelKind::Whatsapp,
                &format!("`{}` messages", message.type_name()),
            ));
        }
    })
}

fn render_whatsapp(
    req: &SendMessageRequest,
    bridge_message_id: &str,
) -> Result<Rendered, Violation> {
    let recipient = wa_recipient(&req.to)?;
    let recipient_is_user_id = matches!(recipient, WaRecipient::UserId(_));
    check_type_allowed(ChannelKind::Whatsapp, &req.message)?;
    let message_type = req.message.type_name();

    if let OutboundMessage::MarkRead(m) = &req.message {
        label("message.message_id", &m.message_id, MAX_MESSAGE_ID)?;
        check_common_whatsapp(req, false)?;
        let mut body = Map::new();
        body.insert("messaging_product".into(), "whatsapp".into());
        body.insert("status".into(), "read".into());
        body.insert("message_id".into(), m.message_id.clone().into());
        if m.typing_indicator == Some(true) {
            body.insert("typing_indicator".into(), json!({"type": "text"}));
        }
        return Ok(Rendered {
            body: Value::Object(body),
            message_type,
            free_form: false,
            expects_message_id: false,
            recipient_is_user_id,
        });
    }

    let (graph_type, content) = wa_content(&req.message)?;
    let is_reaction = matches!(req.message, OutboundMessage::Reaction(_));
    check_common_whatsapp(req, !is_reaction)?;

    let mut body = Map::new();
    body.insert("messaging_product".into(), "whatsapp".into());
    match recipient {
        WaRecipient::Phone(phone) => {
            body.insert("recipient_type".into(), "individual".into());
            body.insert("to".into(), phone.into());
        }
        WaRecipient::UserId(id) => {
            body.insert("recipient_type".into(), "individual".into());
            body.insert("recipient".into(), id.into());
        }
        WaRecipient::Group(id) => {
            body.insert("recipient_type".into(), "group".into());
            body.insert("to".into(), id.into());
        }
    }
    body.insert("type".into(), graph_type.into());
    body.insert(graph_type.into(), content);
    if let Some(reply_to) = &req.reply_to {
        body.insert("context".into(), json!({"message_id": reply_to}));
    }
    body.insert(
        "biz_opaque_callback_data".into(),
        bridge_message_id.to_string().into(),
    );
    Ok(Rendered {
        body: Value::Object(body),
        message_type,
        free_form: !matches!(req.message, OutboundMessage::Template(_)),
        expects_message_id: true,
        recipient_is_user_id,
    })
}

fn check_common_whatsapp(req: &SendMessageRequest, reply_allowed: bool) -> Check {
    if let Some(reply_to) = &req.reply_to {
        if !reply_allowed {
            return Err(not_allowed(
                "reply_to",
                &format!("reply_to cannot be used with `{}`", req.message.type_name()),
            ));
        }
        label("reply_to", reply_to, MAX_MESSAGE_ID)?;
    }
    if req.tag.is_some() {
        return Err(not_for_channel(
            "tag",
            ChannelKind::Whatsapp,
            "message tags",
        ));
    }
    check_client_reference(req)
}

// ---------------------------------------------------------------------------------------------
// Instagram and Messenger
// ---------------------------------------------------------------------------------------------

fn check_scoped_id(to: &str) -> Check {
    if to.is_empty() {
        return Err(violation("to", rule::REQUIRED, "must not be empty"));
    }
    if over_chars(to, MAX_SCOPED_ID) {
        return Err(violation(
            "to",
            rule::MAX_LENGTH,
            format!("must be at most {MAX_SCOPED_ID} characters"),
        ));
    }
    if !to
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(violation(
            "to",
            rule::INVALID_FORMAT,
            "must be the customer's scoped id (letters, digits, `_` and `-`)",
        ));
    }
    Ok(())
}

enum SocialContent {
    /// The `message` object (without `metadata`).
    Message(Map<String, Value>),
    /// `sender_action` and an optional `payload`.
    Action(&'static str, Option<Value>),
}

fn social_attachment(
    kind: ChannelKind,
    attachment_type: &str,
    media_id: Option<&String>,
    link: Option<&String>,
    caption: Option<&String>,
    filename: Option<&String>,
) -> Result<SocialContent, Violation> {
    if media_id.is_some() {
        return Err(not_for_channel(
            "message.media_id",
            kind,
            "media_id (send a public link)",
        ));
    }
    if caption.is_some() {
        return Err(not_for_channel("message.caption", kind, "captions"));
    }
    if filename.is_some() {
        return Err(not_for_channel("message.filename", kind, "filename"));
    }
    let Some(link) = link else {
        return Err(violation(
            "message.link",
            rule::REQUIRED,
            "link is required",
        ));
    };
    https_url("message.link", link)?;
    let mut map = Map::new();
    map.insert(
        "attachment".into(),
        json!({"type": attachment_type, "payload": {"url": link, "is_reusable": true}}),
    );
    Ok(SocialContent::Message(map))
}

fn social_text(kind: ChannelKind, m: &TextMessage) -> Result<SocialContent, Violation> {
    if m.body.trim().is_empty() {
        return Err(violation(
            "message.body",
            rule::REQUIRED,
            "must not be empty",
        ));
    }
    match kind {
        ChannelKind::Instagram if m.body.len() > MAX_INSTAGRAM_TEXT_BYTES => {
            return Err(violation(
                "message.body",
                rule::MAX_LENGTH,
                format!("must be at most {MAX_INSTAGRAM_TEXT_BYTES} bytes (UTF-8) on Instagram"),
            ));
        }
        ChannelKind::Messenger => text("message.body", &m.body, MAX_MESSENGER_TEXT)?,
        _ => {}
    }
    if m.preview_url.is_some() {
        return Err(not_for_channel("message.preview_url", kind, "preview_url"));
    }
    let mut map = Map::new();
    map.insert("text".into(), m.body.clone().into());
    let replies = m.quick_replies.as_deref().unwrap_or_default();
    if replies.len() > MAX_QUICK_REPLIES {
        return Err(violation(
            format!("message.quick_replies[{MAX_QUICK_REPLIES}]"),
            rule::TOO_MANY,
            format!("at most {MAX_QUICK_REPLIES} quick replies"),
        ));
    }
    if !replies.is_empty() {
        let mut out = Vec::with_capacity(replies.len());
        for (i, q) in replies.iter().enumerate() {
            label(
                &format!("message.quick_replies[{i}].title"),
                &q.title,
                MAX_QUICK_REPLY_TITLE,
            )?;
            label(
                &format!("message.quick_replies[{i}].payload"),
                &q.payload,
                MAX_QUICK_REPLY_PAYLOAD,
            )?;
            out.push(json!({"content_type": "text", "title": q.title, "payload": q.payload}));
        }
        map.insert("quick_replies".into(), Value::Array(out));
    }
    Ok(SocialContent::Message(map))
}

fn social_content(
    kind: ChannelKind,
    message: &OutboundMessage,
) -> Result<SocialContent, Violation> {
    use OutboundMessage as M;
    match message {
        M::Text(m) => social_text(kind, m),
        M::Image(m) => social_attachment(
            kind,
            "image",
            m.media_id.as_ref(),
            m.link.as_ref(),
            m.caption.as_ref(),
            None,
        ),
        M::Video(m) => social_attachment(
            kind,
            "video",
            m.media_id.as_ref(),
            m.link.as_ref(),
            m.caption.as_ref(),
            None,
        ),
        M::Audio(m) => social_attachment(
            kind,
            "audio",
            m.media_id.as_ref(),
            m.link.as_ref(),
            None,
            None,
        ),
        M::Document(m) => social_attachment(
            kind,
            "file",
            m.media_id.as_ref(),
            m.link.as_ref(),
            m.caption.as_ref(),
            m.filename.as_ref(),
        ),
        M::Reaction(m) => {
            label("message.message_id", &m.message_id, MAX_MESSAGE_ID)?;
            check_emoji(&m.emoji)?;
            Ok(if m.emoji.is_empty() {
                SocialContent::Action("unreact", Some(json!({"message_id": m.message_id})))
            } else {
                let reaction = match kind {
                    ChannelKind::Instagram => instagram_reaction(&m.emoji)?,
                    _ => m.emoji.as_str(),
                };
                SocialContent::Action(
                    "react",
                    Some(json!({"message_id": m.message_id, "reaction": reaction})),
                )
            })
        }
        M::TypingOn(_) => Ok(SocialContent::Action("typing_on", None)),
        M::TypingOff(_) => Ok(SocialContent::Action("typing_off", None)),
        M::MarkSeen(_) => Ok(SocialContent::Action("mark_seen", None)),
        _ => Err(not_for_channel(
            "message.type",
            kind,
            &format!("`{}` messages", message.type_name()),
        )),
    }
}

/// Instagram takes one reaction type: `love` (the heart). Meta: "Send messages", Instagram API
/// with Instagram Login,
/// <https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api>,
/// and "Send a Message", Instagram Messaging (Messenger Platform),
/// <https://developers.facebook.com/documentation/business-messaging/instagram-messaging/features/send-message>
/// (read 2026-12-02): `sender_action: react` with `payload.reaction` `love`; integrators
/// document the same ("On Instagram only 'love' is accepted"). The heart emoji (with or without
/// the emoji variation selector) and the name `love` map to it; any other reaction is refused
/// with 422 before it is queued. Messenger keeps any emoji (Messenger Platform, "Sender
/// Actions": `reaction` set to any emoji).
fn instagram_reaction(emoji: &str) -> Result<&'static str, Violation> {
    match emoji {
        "\u{2764}\u{FE0F}" | "\u{2764}" | "love" => Ok("love"),
        _ => Err(violation(
            "message.emoji",
            rule::NOT_ALLOWED_FOR_CHANNEL,
            "Instagram accepts only the heart reaction (\u{2764}\u{FE0F} or `love`)",
        )),
    }
}

fn render_social(
    kind: ChannelKind,
    req: &SendMessageRequest,
    bridge_message_id: &str,
) -> Result<Rendered, Violation> {
    check_scoped_id(&req.to)?;
    check_type_allowed(kind, &req.message)?;
    let message_type = req.message.type_name();
    let content = social_content(kind, &req.message)?;

    let is_action = matches!(content, SocialContent::Action(..));
    if let Some(reply_to) = &req.reply_to {
        if is_action {
            return Err(not_allowed(
                "reply_to",
                &format!("reply_to cannot be used with `{message_type}`"),
            ));
        }
        label("reply_to", reply_to, MAX_MESSAGE_ID)?;
    }
    if let Some(tag) = req.tag {
        if is_action {
            return Err(not_allowed(
                "tag",
                &format!("a tag cannot be used with `{message_type}`"),
            ));
        }
        if kind == ChannelKind::Instagram && tag != MessageTag::HumanAgent {
            return Err(not_for_channel("tag", kind, "tags other than human_agent"));
        }
    }
    check_client_reference(req)?;

    let mut body = Map::new();
    body.insert("recipient".into(), json!({"id": req.to}));
    match content {
        SocialContent::Action(action, payload) => {
            body.insert("sender_action".into(), action.into());
            if let Some(payload) = payload {
                body.insert("payload".into(), payload);
            }
            let is_reaction = matches!(req.message, OutboundMessage::Reaction(_));
            Ok(Rendered {
                body: Value::Object(body),
                message_type,
                free_form: is_reaction,
                expects_message_id: false,
                recipient_is_user_id: false,
            })
        }
        SocialContent::Message(mut message) => {
            match req.tag {
                Some(tag) => {
                    body.insert("messaging_type".into(), "MESSAGE_TAG".into());
                    body.insert("tag".into(), tag.graph_value().into());
                }
                None => {
                    body.insert("messaging_type".into(), "RESPONSE".into());
                }
            }
            message.insert("metadata".into(), bridge_message_id.to_string().into());
            body.insert("message".into(), Value::Object(message));
            if let Some(reply_to) = &req.reply_to {
                body.insert("reply_to".into(), json!({"message_id": reply_to}));
            }
            Ok(Rendered {
                body: Value::Object(body),
                message_type,
                free_form: true,
                expects_message_id: true,
                recipient_is_user_id: false,
            })
        }
    }
}

#[cfg(test)]
mod tests;

//! The message content of a send request: [`OutboundMessage`] and its parts per type (text,
//! media, location, contacts, interactive, templates, reactions, read receipts, sender actions),
//! and [`MessageTag`].

use poem_openapi::{Enum, Object, Union};
use serde_json::Value;

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
    pub(super) fn as_str(self) -> &'static str {
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
    pub(super) fn as_str(self) -> &'static str {
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

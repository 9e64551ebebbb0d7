//! Thread control on Instagram and Messenger (issue 16 §5, Meta's handover protocol): which Meta
//! app controls each conversation, the calls that pass, take or request control, and the check
//! every send to such a conversation goes through (a use case over the store, the channel cache
//! and the Graph client, used by the API and [`crate::messages::submit`]).
//!
//! **What the bridge knows.** Handover webhooks (`thread.control` events, recorded in the ingest
//! transaction, see [`crate::events::threads`]) and the bridge's own successful pass / take
//! calls write the owner of a thread (`thread_owners`). No row means nobody told the bridge: the
//! thread is idle or this app's, and sends go ahead. Meta's "Handover Protocol" page
//! (<https://developers.facebook.com/docs/messenger-platform/handover-protocol/>, read
//! 2026-12-04): "Only one app has control at a time and other apps are not able to send a
//! message until the controlling app releases control"; a conversation "will automatically
//! return to idle when it has received no activity for 24 hours". The bridge does not guess that
//! return: while it knows another app controls a thread, a send is refused
//! ([`SendCheck::NotOwned`]) unless the caller asks to take control first, which Meta allows
//! for an idle thread and, for the Primary Receiver, from another app. The page also says
//! "Conversation Routing is now available, and will soon replace Handover Protocol"; Instagram
//! already moved ("Meta no longer supports the Handover Protocol for Instagram. All businesses
//! have been migrated to Conversation Routing. Conversation Routing is backwards compatible with
//! most Handover Protocol APIs", <https://developers.facebook.com/docs/messenger-platform/instagram/features/conversation-routing/>,
//! read 2026-12-04), so the same calls and webhooks are used for Instagram through its Page.
//!
//! **Which channels.** Messenger Pages, and Instagram accounts connected through their Page
//! (Page token, graph.facebook.com). Meta documents the handover calls only on
//! graph.facebook.com with a Page token; an Instagram Login channel (Instagram User token,
//! graph.instagram.com) has no documented handover edge, so it is refused with
//! [`HandoverError::Unavailable`], as is WhatsApp (no handover protocol).
//!
//! Never logged: tokens, metadata strings (they may carry a conversation's context).

use crate::channels::ChannelKind;
use crate::events::threads::ThreadOwner;
use crate::meta::graph::{GraphCallError, GraphClient};
use crate::meta::login::InstagramLogin;
use crate::store::cache::ChannelCache;
use crate::store::{ChannelRow, Store, StoreError, ThreadOwnerRow};

/// Longest `metadata` string the bridge passes to Meta.
pub const MAX_METADATA: usize = 1000;
/// Longest contact id accepted (IGSIDs and PSIDs are far shorter).
pub const MAX_CONTACT: usize = 64;

/// Why a handover call was not made or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    /// The channel has no handover protocol (WhatsApp), or Meta documents none for its login.
    #[error("{0}")]
    Unavailable(&'static str),
    /// The contact is not an IGSID / PSID.
    #[error("the contact is not an Instagram or Messenger user id")]
    InvalidContact,
    /// The channel has no usable token.
    #[error("the channel has no usable token")]
    NoToken,
    /// Meta refused the call or could not be reached.
    #[error(transparent)]
    Graph(GraphCallError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a send to a thread may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendCheck {
    /// The bridge's app controls the thread, or nobody told the bridge otherwise.
    Allowed,
    /// Another app controls the thread (its id when Meta named it; since when, unix ms).
    NotOwned {
        owner_app_id: Option<String>,
        since: i64,
    },
}

/// The handover use case; cheap to clone.
#[derive(Clone)]
pub struct Handover {
    store: Store,
    channels: ChannelCache,
    graph: GraphClient,
    /// This bridge's Meta app (`META_APP_ID`), when configured.
    app_id: Option<String>,
}

impl std::fmt::Debug for Handover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handover")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// Whether `contact` looks like an IGSID / PSID (digits).
pub fn is_scoped_id(contact: &str) -> bool {
    !contact.is_empty()
        && contact.len() <= MAX_CONTACT
        && contact.bytes().all(|b| b.is_ascii_digit())
}

impl Handover {
    pub fn new(
        store: Store,
        channels: ChannelCache,
        graph: GraphClient,
        app_id: Option<String>,
    ) -> Self {
        Self {
            store,
            channels,
            graph,
            app_id: app_id.filter(|a| !a.is_empty()),
        }
    }

    /// This bridge's Meta app id, when configured.
    pub fn app_id(&self) -> Option<&str> {
        self.app_id.as_deref()
    }

    /// Why a channel cannot take part in the handover protocol, if it cannot.
    pub fn unavailable(ch: &ChannelRow) -> Option<&'static str> {
        match ch.kind {
            ChannelKind::Whatsapp => Some("WhatsApp has no handover protocol."),
            ChannelKind::Messenger => None,
            ChannelKind::Instagram => match ch.login.as_deref().and_then(InstagramLogin::parse) {
                Some(InstagramLogin::Instagram) => Some(
                    "Meta documents thread control only for Instagram accounts connected through their Facebook Page; this channel uses Instagram Login.",
                ),
                _ => None,
            },
        }
    }

    /// The stored owner of a thread (`None`: nobody told the bridge).
    pub async fn owner(
        &self,
        ch: &ChannelRow,
        contact: &str,
    ) -> Result<Option<ThreadOwnerRow>, StoreError> {
        self.store
            .thread_owner(&ch.id, &ch.instance_id, contact)
            .await
    }

    /// Whether a send to `contact` on `ch` may go ahead now.
    pub async fn check_send(
        &self,
        ch: &ChannelRow,
        contact: &str,
    ) -> Result<SendCheck, StoreError> {
        if ch.kind == ChannelKind::Whatsapp {
            return Ok(SendCheck::Allowed);
        }
        let Some(row) = self.owner(ch, contact).await? else {
            return Ok(SendCheck::Allowed);
        };
        Ok(match row.thread_owner() {
            Some(ThreadOwner::Other { app_id }) => SendCheck::NotOwned {
                owner_app_id: app_id,
                since: row.since,
            },
            _ => SendCheck::Allowed,
        })
    }

    /// Passes control of the thread to `target_app_id` and records the new owner.
    pub async fn pass(
        &self,
        ch: &ChannelRow,
        contact: &str,
        target_app_id: &str,
        metadata: Option<&str>,
    ) -> Result<ThreadOwner, HandoverError> {
        let (token, page) = self.route(ch, contact).await?;
        self.graph
            .pass_thread_control(&token, page, contact, target_app_id, metadata)
            .await
            .map_err(HandoverError::Graph)?;
        let owner = if self.app_id.as_deref() == Some(target_app_id) {
            ThreadOwner::Bridge {
                app_id: Some(target_app_id.to_owned()),
            }
        } else {
            ThreadOwner::Other {
                app_id: Some(target_app_id.to_owned()),
            }
        };
        self.record(ch, contact, &owner).await?;
        Ok(owner)
    }

    /// Takes control of the thread for this bridge's app and records it.
    pub async fn take(
        &self,
        ch: &ChannelRow,
        contact: &str,
        metadata: Option<&str>,
    ) -> Result<ThreadOwner, HandoverError> {
        let (token, page) = self.route(ch, contact).await?;
        self.graph
            .take_thread_control(&token, page, contact, metadata)
            .await
            .map_err(HandoverError::Graph)?;
        let owner = ThreadOwner::Bridge {
            app_id: self.app_id.clone(),
        };
        self.record(ch, contact, &owner).await?;
        Ok(owner)
    }

    /// Asks the app in control of the thread to pass it to this bridge's app (nothing changes
    /// until it does: a `pass` `thread.control` event follows if it agrees).
    pub async fn request(
        &self,
        ch: &ChannelRow,
        contact: &str,
        metadata: Option<&str>,
    ) -> Result<(), HandoverError> {
        let (token, page) = self.route(ch, contact).await?;
        self.graph
            .request_thread_control(&token, page, contact, metadata)
            .await
            .map_err(HandoverError::Graph)
    }

    async fn record(
        &self,
        ch: &ChannelRow,
        contact: &str,
        owner: &ThreadOwner,
    ) -> Result<(), StoreError> {
        self.store
            .set_thread_owner(&ch.id, &ch.instance_id, contact, owner, crate::now_ms())
            .await
    }

    /// The Page token and the node the calls go to: the Page id of a Messenger channel, `me`
    /// (the Page) for an Instagram account connected through its Page, as its sends do.
    async fn route<'a>(
        &self,
        ch: &'a ChannelRow,
        contact: &str,
    ) -> Result<(std::sync::Arc<String>, &'a str), HandoverError> {
        if let Some(why) = Self::unavailable(ch) {
            return Err(HandoverError::Unavailable(why));
        }
        if !is_scoped_id(contact) {
            return Err(HandoverError::InvalidContact);
        }
        let token = self
            .channels
            .token_for(ch)
            .await
            .map_err(|_| HandoverError::NoToken)?;
        let node = match ch.kind {
            ChannelKind::Instagram => {
                if InstagramLogin::of_channel(ch.login.as_deref(), &token)
                    == InstagramLogin::Instagram
                {
                    return Err(HandoverError::Unavailable(
                        "Meta documents thread control only for Instagram accounts connected through their Facebook Page; this channel uses Instagram Login.",
                    ));
                }
                "me"
            }
            _ => ch.external_id.as_str(),
        };
        Ok((token, node))
    }
}

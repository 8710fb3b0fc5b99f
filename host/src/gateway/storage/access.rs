//! Bucket access rules for HTTP clients. Guests are governed by their grants instead.

use crate::manifest::BucketAccess;

/// The caller of a storage request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No token (or only the publishable key).
    Anonymous,
    /// A verified user.
    User {
        /// Their id.
        id: String,
    },
    /// The app's secret key: the service role, which every bucket lets read and write, as
    /// Supabase's service role bypasses row-level security.
    Service,
}

fn owns(user_id: &str, path: &str) -> bool {
    path.strip_prefix(user_id)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Caller {
    /// The user's id; `None` for an anonymous caller and for the service role.
    pub fn user(&self) -> Option<&str> {
        match self {
            Caller::User { id } => Some(id),
            Caller::Anonymous | Caller::Service => None,
        }
    }

    /// May read the object at `key` (or list the folder `key`).
    pub fn can_read(&self, access: BucketAccess, key: &str) -> bool {
        if let Caller::Service = self {
            return true;
        }
        match access {
            BucketAccess::PublicRead => true,
            BucketAccess::Authenticated => self.user().is_some(),
            BucketAccess::Owner => self.user().is_some_and(|id| owns(id, key)),
            BucketAccess::Private => false,
        }
    }

    /// May create, replace or delete the object at `key`.
    pub fn can_write(&self, access: BucketAccess, key: &str) -> bool {
        if let Caller::Service = self {
            return true;
        }
        match access {
            BucketAccess::Authenticated => self.user().is_some(),
            BucketAccess::PublicRead | BucketAccess::Owner => {
                self.user().is_some_and(|id| owns(id, key))
            }
            BucketAccess::Private => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_buckets_confine_users_to_their_folder() {
        let ann = Caller::User { id: "ann".into() };
        assert!(ann.can_read(BucketAccess::Owner, "ann/photo.png"));
        assert!(ann.can_read(BucketAccess::Owner, "ann"));
        assert!(!ann.can_read(BucketAccess::Owner, "bob/photo.png"));
        assert!(!ann.can_read(BucketAccess::Owner, "annie/photo.png"));
        assert!(!ann.can_write(BucketAccess::Owner, "bob/photo.png"));
        assert!(!Caller::Anonymous.can_read(BucketAccess::Owner, "ann/photo.png"));
    }

    #[test]
    fn public_private_and_authenticated_buckets() {
        let ann = Caller::User { id: "ann".into() };
        assert!(Caller::Anonymous.can_read(BucketAccess::PublicRead, "x"));
        assert!(!Caller::Anonymous.can_write(BucketAccess::PublicRead, "x"));
        assert!(ann.can_write(BucketAccess::PublicRead, "ann/x"));
        assert!(!ann.can_write(BucketAccess::PublicRead, "x"));
        assert!(!ann.can_read(BucketAccess::Private, "ann/x"));
        assert!(!ann.can_write(BucketAccess::Private, "ann/x"));
        assert!(ann.can_write(BucketAccess::Authenticated, "anything"));
        assert!(!Caller::Anonymous.can_read(BucketAccess::Authenticated, "anything"));
    }

    #[test]
    fn the_service_role_reads_and_writes_every_bucket() {
        for access in [
            BucketAccess::PublicRead,
            BucketAccess::Authenticated,
            BucketAccess::Owner,
            BucketAccess::Private,
        ] {
            assert!(Caller::Service.can_read(access, "ann/x"));
            assert!(Caller::Service.can_write(access, "ann/x"));
        }
    }
}

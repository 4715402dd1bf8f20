"""A read's images: the store, the retention sweep, the simulator's renders (issue 18, item 1)."""

from streams.images.store import (
    KINDS,
    REF_PREFIX,
    ImageStore,
    StoredImage,
    check_image,
    image_key,
    image_ref,
    key_of_ref,
    open_store,
    sniff,
)

__all__ = [
    "KINDS",
    "REF_PREFIX",
    "ImageStore",
    "StoredImage",
    "check_image",
    "image_key",
    "image_ref",
    "key_of_ref",
    "open_store",
    "sniff",
]

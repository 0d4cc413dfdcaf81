"""Destinations: one module per kind of target, all behind
:class:`syncs.destinations.base.Destination`.

Registered types (``destination.type`` in a definition; the registry is
``syncs.destinations.base.DESTINATION_TYPES``, modules import on first use):

=======================  ================================================  ===================
type                     what                                              modes
=======================  ================================================  ===================
file                     CSV / JSON Lines / Parquet files with manifests   insert upsert mirror
feed                     a list the channel pulls (``kairos feeds``)       insert upsert mirror
webhook                  signed JSON POST per batch                        insert upsert mirror
braze                    ESP profiles, lists, campaign sends               insert upsert mirror
twilio_sms               SMS                                               insert
fcm                      mobile push                                       insert
meta_custom_audience     Meta custom audiences (hashed match keys)         insert upsert mirror
google_customer_match    Google Customer Match (hashed match keys)         insert upsert mirror
=======================  ================================================  ===================

To add one: write ``syncs/destinations/<type>.py`` with a ``Destination``
subclass and register it in ``DESTINATION_TYPES``.
"""

from syncs.destinations.base import (
    DESTINATION_TYPES,
    OPERATIONS,
    Batch,
    BatchOutcome,
    Destination,
    destination_class,
    encode_json_array,
    encode_json_rows,
)

__all__ = ["DESTINATION_TYPES", "OPERATIONS", "Batch", "BatchOutcome", "Destination", "destination_class",
           "encode_json_array", "encode_json_rows"]

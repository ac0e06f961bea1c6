"""What the storage plug-ins stand on: the WebJobs queue loop (poll, renew, settle,
poison), queue codecs, blob paths and the container scan of the blob trigger, blob-lease
singletons, and the same-host queue notifier. May import `funchost.core` and
`funchost.config`; never a plug-in room.
"""

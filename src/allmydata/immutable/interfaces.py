"""The zope Interfaces for immutable files of the 2008 interfaces
(allmydata-tahoe 2008): uploading, encoding,
share buckets, downloading and file nodes.

The text of each method says what the 2008 interfaces promise; implementations in this
package follow it, with the additions named in their own docstrings.
"""

from zope.interface import Attribute, Interface


# ---- shares, as the encoder and decoder see them ----------------------------

class IStorageBucketWriter(Interface):
    def put_block(segmentnum, data):
        """Write one block (the last may be shorter); Deferred(None)."""

    def put_plaintext_hashes(hashes):
        """Write the plaintext hash tree (all zeros since Tahoe 1.3)."""

    def put_crypttext_hashes(hashes):
        """Write the crypttext hash tree."""

    def put_block_hashes(blockhashes):
        """Write this share's block hash tree."""

    def put_share_hashes(sharehashes):
        """Write this share's share-hash chain: [(node index, hash)]."""

    def put_uri_extension(data):
        """Write the URI extension block."""

    def close():
        """Finish the share: it is not kept until this is called."""

    def abort():
        """Abandon the share."""


class IStorageBucketReader(Interface):
    def get_block_data(blocknum, blocksize, size):
        """Deferred(bytes): one block."""

    def get_crypttext_hashes():
        """Deferred(list of hashes)."""

    def get_block_hashes(at_least_these=()):
        """Deferred({index: hash}) of this share's block hash tree."""

    def get_share_hashes():
        """Deferred([(index, hash)]): this share's share-hash chain."""

    def get_uri_extension():
        """Deferred(bytes): the URI extension block."""


# ---- upload ------------------------------------------------------------------

class IUploadable(Interface):
    def set_upload_status(upload_status):
        """Provide an IUploadStatus to report key-determination progress to."""

    def set_default_encoding_parameters(params):
        """dict with 'k', 'happy', 'n', 'max_segment_size'."""

    def get_size():
        """Deferred(int): the number of bytes to upload."""

    def get_all_encoding_parameters():
        """Deferred((k, happy, n, segment_size)); segment_size a multiple of k."""

    def get_encryption_key():
        """Deferred(16-byte AES key); the same every time it is asked."""

    def read(length):
        """Deferred(list of bytes) holding the next ``length`` bytes (fewer at EOF)."""

    def close():
        """The upload is finished."""


class IEncryptedUploadable(Interface):
    def set_upload_status(upload_status):
        """Provide an IUploadStatus for size, storage index and progress."""

    def get_size():
        """Deferred(int)."""

    def get_all_encoding_parameters():
        """Deferred((k, happy, n, segment_size))."""

    def get_storage_index():
        """Deferred(16-byte storage index)."""

    def read_encrypted(length, hash_only):
        """Deferred(list of ciphertext bytes) for the next ``length`` bytes."""

    def close():
        """Just like IUploadable.close()."""


class IEncoder(Interface):
    def set_encrypted_uploadable(u):
        """Provide the IEncryptedUploadable; Deferred(self)."""

    def get_param(name):
        """'storage_index', 'share_counts', 'num_segments', 'segment_size',
        'block_size', 'share_size', 'serialized_params'."""

    def set_shareholders(shareholders, servermap):
        """{shnum: IStorageBucketWriter}, and {shnum: set(serverid)}."""

    def start():
        """Encode and push; Deferred((uri_extension_hash, k, n, size))."""


class IUploadResults(Interface):
    file_size = Attribute("the size of the file, in bytes")
    uri = Attribute("the CHK read-cap (bytes)")
    ciphertext_fetched = Attribute("bytes fetched by a helper")
    sharemap = Attribute("{shnum: set(serverid)} where each share went")
    servermap = Attribute("{serverid: set(shnum)}")
    timings = Attribute("{name: seconds}: total, storage_index, peer_selection, "
                        "encode_and_push, cumulative_encoding, cumulative_sending, "
                        "hashes_and_close")
    uri_extension_data = Attribute("the UEB as a dict")
    uri_extension_hash = Attribute("its hash")


class IUploader(Interface):
    def upload(uploadable):
        """Upload the IUploadable; Deferred(IUploadResults)."""


class IUploadStatus(Interface):
    def get_started():
        """When the upload started (seconds since the epoch)."""

    def get_storage_index():
        """The binary storage index, or None until known."""

    def get_size():
        """The size of the file, or None until known."""

    def using_helper():
        """True if this upload uses a helper."""

    def get_status():
        """A string describing the current state."""

    def get_progress():
        """(chk, ciphertext, encode_and_push), each from 0.0 to 1.0."""

    def get_active():
        """True while the upload is running."""

    def get_results():
        """The IUploadResults, or None until finished."""

    def get_counter():
        """A unique number for this upload."""


# ---- download ----------------------------------------------------------------

class IDownloadTarget(Interface):
    def open(size):
        """Called before write() or close()."""

    def write(data):
        """Output some data."""

    def close():
        """No more data will be written."""

    def fail(why):
        """The download failed (a Failure); nothing more will be called."""

    def register_canceller(cb):
        """The downloader registers a no-argument function that cancels it."""

    def finish():
        """Whatever this returns is the result of the download."""


class IDownloader(Interface):
    def download(uri, target):
        """Download a CHK file into the IDownloadTarget; Deferred(target.finish())."""


class IDownloadResults(Interface):
    file_size = Attribute("the size of the file")
    servers_used = Attribute("set of serverids used")
    server_problems = Attribute("{serverid: problem string}")
    servermap = Attribute("{serverid: set(shnum)}")
    timings = Attribute("{name: seconds}")


class IDownloadStatus(Interface):
    def get_started():
        """When the download started."""

    def get_storage_index():
        """The binary storage index, or None (LIT files)."""

    def get_size():
        """The size of the file, or None until known."""

    def using_helper():
        """Always False for downloads."""

    def get_status():
        """A string describing the current state."""

    def get_progress():
        """0.0 to 1.0, of the bytes delivered."""

    def get_active():
        """True while running."""

    def get_counter():
        """A unique number for this download."""


# ---- file nodes --------------------------------------------------------------

class IFilesystemNode(Interface):
    def get_uri():
        """The cap (bytes) that gives this node's holder the access we have."""

    def get_readonly_uri():
        """The read-only cap."""

    def get_verify_cap():
        """The verify cap (IVerifierURI), or None for LIT."""

    def get_storage_index():
        """The storage index, or None for LIT."""

    def is_readonly():
        """True if this reference cannot modify the node."""

    def is_mutable():
        """True if somebody can modify this node."""


class IFileNode(IFilesystemNode):
    def download(target):
        """Download into an IDownloadTarget."""

    def download_to_data():
        """Deferred(bytes): the whole contents."""

    def get_size():
        """The length of the file in bytes."""

    def read(consumer, offset=0, size=None):
        """Write bytes [offset, offset+size) to an IConsumer; Deferred(consumer)."""

// The registry:// ImageStore backend: images live in an external OCI
// distribution registry (CNCF distribution / docker-registry, Harbor, Zot,
// ...), spoken to over the distribution API with the HTTP client.
//
//   registry://host:port[/prefix]    plain HTTP (loopback, a private network)
//   registrys://host:port[/prefix]   HTTPS
//
// Every repository `r` lives at `<prefix>/r` in the registry, so several
// tandem installations (or test runs) can share one registry. Blobs are
// uploaded in chunks (POST, PATCH per 8 MiB, PUT ?digest=) with the digest
// computed and checked here as well as by the registry; reads go to a temp
// file and are verified while read. Tag deletion and garbage collection are
// the registry's business: DeleteTag and GarbageCollect are Unimplemented
// (run `registry garbage-collect` on the registry host). No credentials are
// sent yet (a registry on loopback or a trusted network).
//
// Thread-safety: thread-safe (one HTTP client per call).
#pragma once

#include "glue/images/image_store.h"

namespace tandem::images {

class RegistryImageStore final : public ImageStore {
 public:
  // InvalidArgument for a malformed URI (naming it).
  static StatusOr<std::unique_ptr<RegistryImageStore>> Open(std::string_view uri,
                                                            bus::EventBus* bus, Clock* clock);

  std::string uri() const override { return uri_; }

 protected:
  StatusOr<store::BlobInfo> DoPutBlob(std::string_view repo, const store::ReadFn& reader,
                                      std::string_view expected_digest) override;
  StatusOr<std::unique_ptr<store::BlobReader>> DoOpenBlob(std::string_view repo,
                                                          std::string_view digest) override;
  StatusOr<store::BlobInfo> DoStatBlob(std::string_view repo, std::string_view digest) override;
  StatusOr<store::BlobInfo> DoMountBlob(std::string_view from_repo, std::string_view to_repo,
                                        std::string_view digest) override;
  Status DoDeleteBlob(std::string_view repo, std::string_view digest) override;
  Status DoPutManifest(std::string_view repo, std::string_view tag, std::string_view digest,
                       std::string_view media_type, std::string_view bytes, bool is_index,
                       const std::vector<std::string>& references) override;
  StatusOr<ManifestData> DoGetManifest(std::string_view repo,
                                       std::string_view tag_or_digest) override;
  StatusOr<std::vector<std::string>> DoDeleteManifest(std::string_view repo,
                                                      std::string_view digest) override;
  StatusOr<std::string> DoDeleteTag(std::string_view repo, std::string_view tag) override;
  StatusOr<NamePage> DoListRepositories(std::string_view last, size_t n) override;
  StatusOr<NamePage> DoListTags(std::string_view repo, std::string_view last, size_t n) override;
  StatusOr<ImageGcResult> DoGarbageCollect(int64_t grace_micros) override;

 private:
  RegistryImageStore(std::string uri, std::string base, std::string prefix, bus::EventBus* bus,
                     Clock* clock);
  // http(s)://host:port/v2/<prefix/repo>
  std::string RepoUrl(std::string_view repo) const;
  std::string Absolute(const std::string& location) const;
  StatusOr<std::vector<std::string>> AllTags(std::string_view repo);

  std::string uri_;
  std::string base_;    // http(s)://host:port
  std::string prefix_;  // "" or "p/q"
};

}  // namespace tandem::images

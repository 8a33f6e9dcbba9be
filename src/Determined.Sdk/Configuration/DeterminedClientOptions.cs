using Determined.Security;

namespace Determined.Sdk;

/// <summary>
/// Settings of a <see cref="DeterminedClient"/>. Bind them from the <c>Determined</c> configuration section, set them
/// in code, or leave them empty: with <see cref="UseEnvironment"/> on (the default) everything a Determined task
/// injects is picked up, with Determined's precedence (explicit settings win).
/// </summary>
public sealed class DeterminedClientOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Determined";

    /// <summary>
    /// Gets or sets the master address (<c>https://master:8443</c>, <c>master:8080</c>, …). When unset:
    /// <c>DET_MASTER</c>, else <c>DET_MASTER_ADDR</c>, else <c>localhost:8080</c>.
    /// </summary>
    public string? MasterUrl { get; set; }

    /// <summary>Gets or sets the TLS settings. Explicit trust settings here disable <c>DET_MASTER_CERT_*</c> and the trust-on-first-use store, as upstream.</summary>
    public TlsOptions Tls { get; set; } = new();

    /// <summary>Gets or sets the user to act as (for the token store); defaults to <c>DET_USER</c> or the store's active user.</summary>
    public string? User { get; set; }

    /// <summary>Gets or sets a user token (sent as <c>Authorization: Bearer</c>). Prefer <see cref="TokenFile"/> or the environment; it is never logged.</summary>
    public string? Token { get; set; }

    /// <summary>Gets or sets a file holding the user token.</summary>
    public string? TokenFile { get; set; }

    /// <summary>Gets or sets a value indicating whether the <c>DET_*</c> environment of a task is used. On by default.</summary>
    public bool UseEnvironment { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether certificates trusted on first use (<c>certs.json</c>) are used. On by default.</summary>
    public bool UseCertificateStore { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether the CLI's token store (<c>auth.json</c>) supplies a token when none is given. On by default.</summary>
    public bool UseTokenStore { get; set; } = true;

    /// <summary>
    /// Gets or sets how many times an idempotent request (GET, HEAD, OPTIONS, PUT, DELETE) is retried after a connection
    /// failure or a 502/503/504 answer; POSTs and TLS failures are never retried. Default 3 (4 attempts).
    /// </summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>Gets or sets the first retry delay; it doubles per attempt, with jitter. Default 250 ms.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Gets or sets the deadline of one call: connecting, the TLS handshake, every retry and wait, the response headers
    /// and reading the body. Default 100 seconds; <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> for none.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>
    /// Gets or sets the largest response body read from the master, in bytes; a larger one stops with a
    /// <see cref="DeterminedApiException"/> (<c>ResponseTooLarge</c>). Error bodies are read up to 64 KiB. Default 64 MiB.
    /// </summary>
    public long MaxResponseBytes { get; set; } = 64L * 1024 * 1024;
}

using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Security;

/// <summary>
/// The trust-on-first-use store, <c>certs.json</c>, compatible with Determined's Python CLI: one JSON object mapping
/// canonical master URLs to PEM chains (leaf first), written with sorted keys and 4-space indent, every access under
/// <c>certs.json.lock</c>, every write through <c>certs.json.temp</c> and a rename. Thread- and process-safe.
/// </summary>
/// <remarks>
/// Unlike upstream, a corrupt store is not deleted: it is moved to <c>certs.json.corrupt-&lt;UTC time&gt;</c>, a warning
/// says where it went and how to recover, and the store continues empty.
/// </remarks>
public sealed class MasterCertificateStore
{
    /// <summary>The store's file name.</summary>
    public const string FileName = "certs.json";

    /// <summary>The legacy single-certificate file migrated into the store.</summary>
    public const string LegacyFileName = "master.crt";

    private readonly StoreFile _file;
    private readonly ILogger _logger;

    /// <summary>Initializes a store in a directory.</summary>
    /// <param name="directory">The directory that holds <c>certs.json</c> (created with mode 0700 on first write).</param>
    /// <param name="logger">Where corruption and migration are reported; <see langword="null"/> for none.</param>
    /// <param name="timeProvider">The clock used to name quarantined files.</param>
    public MasterCertificateStore(string directory, ILogger<MasterCertificateStore>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = Path.GetFullPath(directory);
        _file = new StoreFile(Path.Combine(Directory, FileName), timeProvider ?? TimeProvider.System, Validate);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Gets the directory of the store.</summary>
    public string Directory { get; }

    /// <summary>Gets the path of <c>certs.json</c>.</summary>
    public string FilePath => _file.Path;

    /// <summary>Opens the store in Determined's configuration directory (<see cref="DeterminedConfigDirectory"/>).</summary>
    /// <param name="logger">Where corruption and migration are reported.</param>
    /// <returns>The store.</returns>
    public static MasterCertificateStore OpenDefault(ILogger<MasterCertificateStore>? logger = null) => new(DeterminedConfigDirectory.GetPath(), logger);

    /// <summary>Returns the stored PEM chain for a master (waits for the store's lock without blocking a thread).</summary>
    /// <param name="masterUrl">The master address in any accepted form (it is canonicalized).</param>
    /// <param name="cancellationToken">Stops waiting for the lock.</param>
    /// <returns>The PEM chain, leaf first, or <see langword="null"/>.</returns>
    /// <exception cref="DeterminedException">The entry is not a usable chain, or the lock was not free within 30 seconds.</exception>
    public Task<string?> GetAsync(string masterUrl, CancellationToken cancellationToken = default) =>
        _file.RunLockedAsync(() => Get(masterUrl), cancellationToken);

    /// <summary>Stores (or replaces) the PEM chain for a master (waits for the store's lock without blocking a thread).</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <param name="pemChain">The PEM certificates, leaf first; must hold at least one certificate and no private key.</param>
    /// <param name="cancellationToken">Stops waiting for the lock (nothing is written then).</param>
    /// <returns>A task that completes when the store is written.</returns>
    public Task SetAsync(string masterUrl, string pemChain, CancellationToken cancellationToken = default) =>
        _file.RunLockedAsync(() => { Set(masterUrl, pemChain); return 0; }, cancellationToken);

    /// <summary>Removes a master's entry (waits for the store's lock without blocking a thread).</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <param name="cancellationToken">Stops waiting for the lock (nothing is removed then).</param>
    /// <returns><see langword="true"/> when an entry was removed.</returns>
    public Task<bool> RemoveAsync(string masterUrl, CancellationToken cancellationToken = default) =>
        _file.RunLockedAsync(() => Remove(masterUrl), cancellationToken);

    /// <summary>Lists every stored master and its PEM chain (waits for the store's lock without blocking a thread).</summary>
    /// <param name="cancellationToken">Stops waiting for the lock.</param>
    /// <returns>Canonical URL → PEM chain, sorted by URL.</returns>
    public Task<IReadOnlyDictionary<string, string>> ListAsync(CancellationToken cancellationToken = default) =>
        _file.RunLockedAsync(List, cancellationToken);

    /// <summary>Returns the stored PEM chain for a master, or <see langword="null"/>.</summary>
    /// <param name="masterUrl">The master address in any accepted form (it is canonicalized).</param>
    /// <returns>The PEM chain, leaf first.</returns>
    /// <exception cref="DeterminedException">The entry is not a usable chain; the message names the store, the entry and the command that removes it.</exception>
    public string? Get(string masterUrl)
    {
        var key = MasterAddress.Canonicalize(masterUrl);
        var store = _file.ReadLocked(OnCorrupt);
        var pem = ValueOf(store, key);
        if (pem is not null)
        {
            var errors = new List<string>();
            _ = TrustMaterialFiles.LoadTrustPem(pem, $"the entry '{key}' of {FilePath}", "certs.json", errors);
            if (errors.Count > 0)
            {
                throw new DeterminedStoreException(
                    $"The entry for '{key}' in the trust store '{FilePath}' (certs.json) is not a usable certificate chain: {string.Join(" ", errors.Select(e => e.Split(" Fix:")[0]))} " +
                    $"Fix: remove it with 'det tls forget {key}' (or delete that key from certs.json), then trust the master again ('det tls trust -m {key}', after checking its fingerprint).", FilePath);
            }
        }

        return pem;
    }

    /// <summary>Stores (or replaces) the PEM chain for a master.</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <param name="pemChain">The PEM certificates, leaf first; must hold at least one certificate and no private key.</param>
    public void Set(string masterUrl, string pemChain)
    {
        ArgumentNullException.ThrowIfNull(pemChain);
        var key = MasterAddress.Canonicalize(masterUrl);
        ThrowIfNotAChain(pemChain);

        _file.Update(store =>
        {
            store[key] = pemChain;
            return (0, true);
        }, OnCorrupt);
    }

    /// <summary>
    /// Stores a chain only if the entry is still <paramref name="expected"/> (what was read before a decision), in one
    /// locked update: a decision made on an entry another process has changed meanwhile is never written over it.
    /// </summary>
    /// <returns><see langword="false"/> when the entry changed (nothing was written).</returns>
    internal Task<bool> ReplaceAsync(string masterUrl, string? expected, string pemChain, CancellationToken cancellationToken) =>
        _file.RunLockedAsync(
            () =>
            {
                var key = MasterAddress.Canonicalize(masterUrl);
                ThrowIfNotAChain(pemChain);

                return _file.Update(
                    store =>
                    {
                        if (!string.Equals(ValueOf(store, key), expected, StringComparison.Ordinal))
                        {
                            return (false, false);
                        }

                        store[key] = pemChain;
                        return (true, true);
                    },
                    OnCorrupt);
            },
            cancellationToken);

    /// <summary>Removes a master's entry.</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <returns><see langword="true"/> when an entry was removed.</returns>
    public bool Remove(string masterUrl)
    {
        var key = MasterAddress.Canonicalize(masterUrl);
        return _file.Update(store => store.Remove(key) ? (true, true) : (false, false), OnCorrupt);
    }

    /// <summary>Lists every stored master and its PEM chain.</summary>
    /// <returns>Canonical URL → PEM chain, sorted by URL.</returns>
    public IReadOnlyDictionary<string, string> List()
    {
        var store = _file.ReadLocked(OnCorrupt);
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, _) in store)
        {
            if (ValueOf(store, key) is { } pem)
            {
                result[key] = pem;
            }
        }

        return result;
    }

    /// <summary>
    /// Moves a legacy <c>master.crt</c> from the store's directory into the store for <paramref name="masterUrl"/>
    /// and deletes it, as Determined's CLI does.
    /// </summary>
    /// <param name="masterUrl">The master the legacy certificate belongs to (the current master).</param>
    /// <returns><see langword="true"/> when a legacy file was migrated.</returns>
    public bool MigrateLegacyCertificate(string masterUrl)
    {
        ArgumentNullException.ThrowIfNull(masterUrl);
        var legacy = Path.Combine(Directory, LegacyFileName);
        if (!File.Exists(legacy))
        {
            return false;
        }

        var key = MasterAddress.Canonicalize(masterUrl);
        var migrated = _file.Update(store =>
        {
            // Read, store and delete under the store's lock, so concurrent processes migrate it once.
            string pem;
            try
            {
                pem = BoundedFile.ReadAllText(legacy, BoundedFile.MaxCredentialBytes);
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                return (false, false); // another process migrated it first
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new DeterminedStoreException($"The legacy certificate file '{legacy}' cannot be read ({ex.Message}). Fix: make it readable, or delete it if the master is trusted otherwise.", legacy, ex);
            }

            var errors = new List<string>();
            _ = TrustMaterialFiles.LoadTrustPem(pem, legacy, "the legacy master.crt", errors);
            if (errors.Count > 0)
            {
                throw new DeterminedStoreException($"The legacy certificate file '{legacy}' cannot be migrated into '{FilePath}': {errors[0]} Fix: delete it, or replace it with the master's PEM certificate.", legacy);
            }

            if (!store.ContainsKey(key))
            {
                store[key] = pem; // an existing entry is newer than the legacy file and is kept
            }

            File.Delete(legacy);
            return (true, true);
        }, OnCorrupt);
        if (migrated)
        {
            Log.LegacyCertificateMigrated(_logger, legacy, key, FilePath);
        }

        return migrated;
    }

    /// <summary>Only PEM certificates (at least one, no private key) are stored.</summary>
    private static void ThrowIfNotAChain(string pemChain)
    {
        var errors = new List<string>();
        _ = TrustMaterialFiles.LoadTrustPem(pemChain, "the chain to store", "certs.json", errors);
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors), nameof(pemChain));
        }
    }

        private static string? ValueOf(JsonObject store, string key) =>
        store.TryGetPropertyValue(key, out var node) && node is JsonValue value && value.TryGetValue<string>(out var pem) ? pem : null;

    private static string? Validate(JsonObject store)
    {
        foreach (var (key, value) in store)
        {
            if (value is not JsonValue v || !v.TryGetValue<string>(out _))
            {
                return $"the value for '{key}' is not a PEM string";
            }
        }

        return null;
    }

    private void OnCorrupt(string movedTo, string problem) =>
        Log.StoreQuarantined(_logger, _file.Path, problem, movedTo);
}

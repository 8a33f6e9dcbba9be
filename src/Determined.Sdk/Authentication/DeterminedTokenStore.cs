using System.Text.Json.Nodes;
using Determined.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Determined.Sdk;

/// <summary>
/// The CLI's token store, <c>auth.json</c>, compatible with Determined's Python CLI (version 2:
/// <c>{"version":2,"masters":{"&lt;url&gt;":{"active_user":"u","tokens":{"u":"TOKEN"}}}}</c>). Version 0 and 1 files are
/// read and rewritten as version 2; unlike upstream, the tokens of a version-0 file (which names no master) are kept
/// under a key no master has instead of being sent to whichever master is in use. Same lock, temp-file and quarantine rules as <c>certs.json</c>;
/// the file is mode 0600. Tokens are never logged.
/// </summary>
public sealed class DeterminedTokenStore
{
    /// <summary>The store's file name.</summary>
    public const string FileName = "auth.json";

    private static readonly System.Buffers.SearchValues<char> s_nfkcDelimiters = System.Buffers.SearchValues.Create(
        "\u2047\u2048\u2049\u2100\u2101\u2105\u2106\u2a74\ufe13\ufe16\ufe55\ufe56\ufe5f\ufe6b\uff03\uff0f\uff1a\uff1f\uff20");

    private readonly StoreFile _file;
    private readonly ILogger _logger;

    /// <summary>Initializes a store in a directory.</summary>
    /// <param name="directory">The directory of <c>auth.json</c> (Determined's configuration directory).</param>
    /// <param name="logger">Where a quarantined file is reported.</param>
    /// <param name="timeProvider">Names quarantined files.</param>
    public DeterminedTokenStore(string directory, ILogger<DeterminedTokenStore>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        _file = new StoreFile(Path.Combine(Path.GetFullPath(directory), FileName), timeProvider ?? TimeProvider.System, Validate);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Gets the path of <c>auth.json</c>.</summary>
    public string FilePath => _file.Path;

    /// <summary>Opens the store in Determined's configuration directory.</summary>
    /// <returns>The store.</returns>
    public static DeterminedTokenStore OpenDefault() => new(DeterminedConfigDirectory.GetPath());

    /// <summary>Returns the active user for a master (waits for the store's lock without blocking a thread).</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <param name="cancellationToken">Stops waiting for the lock.</param>
    /// <returns>The user name, or <see langword="null"/>.</returns>
    public Task<string?> GetActiveUserAsync(string masterUrl, CancellationToken cancellationToken = default) =>
        _file.RunLockedAsync(() => GetActiveUser(masterUrl), cancellationToken);

    /// <summary>Returns the stored token of a user on a master (waits for the store's lock without blocking a thread).</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <param name="user">The user name.</param>
    /// <param name="cancellationToken">Stops waiting for the lock.</param>
    /// <returns>The token, or <see langword="null"/>.</returns>
    public Task<string?> GetTokenAsync(string masterUrl, string user, CancellationToken cancellationToken = default) =>
        _file.RunLockedAsync(() => GetToken(masterUrl, user), cancellationToken);

    /// <summary>Returns the users with a stored token on a master (waits for the store's lock without blocking a thread).</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <param name="cancellationToken">Stops waiting for the lock.</param>
    /// <returns>The user names, sorted.</returns>
    public Task<IReadOnlyList<string>> GetUsersAsync(string masterUrl, CancellationToken cancellationToken = default) =>
        _file.RunLockedAsync(() => GetUsers(masterUrl), cancellationToken);

    /// <summary>Stores a user's token on a master (waits for the store's lock without blocking a thread).</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <param name="user">The user name.</param>
    /// <param name="token">The token.</param>
    /// <param name="makeActive">Whether the user becomes the active user.</param>
    /// <param name="cancellationToken">Stops waiting for the lock (nothing is written then).</param>
    /// <returns>A task that completes when the store is written.</returns>
    public Task SetTokenAsync(string masterUrl, string user, string token, bool makeActive = true, CancellationToken cancellationToken = default) =>
        _file.RunLockedAsync(() => { SetToken(masterUrl, user, token, makeActive); return 0; }, cancellationToken);

    /// <summary>Removes a user's token (waits for the store's lock without blocking a thread).</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <param name="user">The user name.</param>
    /// <param name="cancellationToken">Stops waiting for the lock (nothing is removed then).</param>
    /// <returns><see langword="true"/> when a token was removed.</returns>
    public Task<bool> RemoveTokenAsync(string masterUrl, string user, CancellationToken cancellationToken = default) =>
        _file.RunLockedAsync(() => RemoveToken(masterUrl, user), cancellationToken);

    /// <summary>Returns the active user for a master, or <see langword="null"/>.</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <returns>The user name.</returns>
    public string? GetActiveUser(string masterUrl)
    {
        var url = MasterAddress.Canonicalize(masterUrl);
        return Master(Read(url), url)?["active_user"] is JsonValue v && v.TryGetValue<string>(out var user) ? user : null;
    }

    /// <summary>Returns the stored token of a user on a master, or <see langword="null"/>.</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <param name="user">The user name.</param>
    /// <returns>The token.</returns>
    public string? GetToken(string masterUrl, string user)
    {
        ArgumentNullException.ThrowIfNull(user);
        var url = MasterAddress.Canonicalize(masterUrl);
        return Master(Read(url), url)?["tokens"]?[user] is JsonValue v && v.TryGetValue<string>(out var token) ? token : null;
    }

    /// <summary>Returns the users with a stored token on a master.</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <returns>The user names, sorted.</returns>
    public IReadOnlyList<string> GetUsers(string masterUrl)
    {
        var url = MasterAddress.Canonicalize(masterUrl);
        return Master(Read(url), url)?["tokens"] is JsonObject tokens ? tokens.Select(p => p.Key).Order(StringComparer.Ordinal).ToArray() : [];
    }

    /// <summary>Stores a user's token on a master (after a login) and, by default, makes the user active.</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <param name="user">The user name.</param>
    /// <param name="token">The token.</param>
    /// <param name="makeActive">Whether the user becomes the active user.</param>
    public void SetToken(string masterUrl, string user, string token, bool makeActive = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(user);
        ArgumentException.ThrowIfNullOrEmpty(token);
        var url = MasterAddress.Canonicalize(masterUrl);
        _file.Update(store =>
        {
            var master = EnsureMaster(Upgrade(store, url), url);
            var tokens = master["tokens"] as JsonObject ?? [];
            master["tokens"] = tokens;
            tokens[user] = token;
            if (makeActive)
            {
                master["active_user"] = user;
            }

            return (0, true);
        }, OnCorrupt);
    }

    /// <summary>Removes a user's token (after a logout); the user stops being active.</summary>
    /// <param name="masterUrl">The master address (canonicalized).</param>
    /// <param name="user">The user name.</param>
    /// <returns><see langword="true"/> when a token was removed.</returns>
    public bool RemoveToken(string masterUrl, string user)
    {
        ArgumentNullException.ThrowIfNull(user);
        var url = MasterAddress.Canonicalize(masterUrl);
        return _file.Update(store =>
        {
            var upgraded = Upgrade(store, url);
            var master = Master(upgraded, url);
            var removed = master?["tokens"] is JsonObject tokens && tokens.Remove(user);
            if (master?["active_user"] is JsonValue v && v.TryGetValue<string>(out var active) && active == user)
            {
                master.Remove("active_user");
                removed = true;
            }

            return (removed, removed);
        }, OnCorrupt);
    }

    private JsonObject Read(string url)
    {
        var store = _file.ReadLocked(OnCorrupt);
        if (store.Count > 0 && store["version"] is null && store["tokens"] is not null)
        {
            // A version-0 file records no master: its tokens are migrated once, under the lock, to a key no master URL
            // can have (kept, never sent), instead of being offered to whatever master is in use (upstream's shim).
            var moved = _file.Update(
                s =>
                {
                    if (s["version"] is not null || s["tokens"] is null)
                    {
                        return (false, false); // another process migrated it first
                    }

                    Upgrade(s, url);
                    return (true, true);
                },
                OnCorrupt);
            if (moved)
            {
                Log.TokenStoreV0Migrated(_logger, FilePath, UnboundV0Key);
            }

            store = _file.ReadLocked(OnCorrupt);
        }

        return Upgrade(store, url);
    }

    /// <summary>
    /// Where the tokens of a version-0 <c>auth.json</c> are kept: it never recorded which master issued them, so they
    /// belong to no master (a key that is not a URL) and are never sent; the user logs in again.
    /// </summary>
    internal const string UnboundV0Key = "(auth.json version 0: master unknown)";

    /// <summary>Upstream's shims, made safe: v0 (no version, no master) and v1 (non-canonical keys) become v2, in place.</summary>
    private static JsonObject Upgrade(JsonObject store, string url)
    {
        var version = store["version"] is JsonValue v && v.TryGetValue<int>(out var n) ? n : 0;
        if (version == 0)
        {
            var v0 = new JsonObject();
            foreach (var key in new[] { "active_user", "tokens" })
            {
                if (store[key] is { } value)
                {
                    v0[key] = value.DeepClone();
                }
            }

            store.Clear();
            store["version"] = 2;
            store["masters"] = v0.Count == 0 ? new JsonObject() : new JsonObject { [UnboundV0Key] = v0 };
            return store;
        }

        if (version == 1 && store["masters"] is JsonObject masters)
        {
            // Upstream's shim_store_v1: keys lose user information, query and fragment, are canonicalized, and entries that
            // land on the same master merge (every user's token kept, the first active user wins); keys that do not parse
            // are dropped instead of breaking the store.
            var merged = new JsonObject();
            foreach (var (key, value) in masters.ToList())
            {
                if (value is not JsonObject entry || PrecanonicalV1Key(key) is not { } target)
                {
                    continue;
                }

                if (merged[target] is not JsonObject into)
                {
                    into = new JsonObject { ["tokens"] = new JsonObject() };
                    merged[target] = into;
                }

                var tokens = (JsonObject)into["tokens"]!;
                foreach (var (user, token) in entry["tokens"] as JsonObject ?? [])
                {
                    tokens[user] = token?.DeepClone();
                }

                if (into["active_user"] is null && entry["active_user"] is { } active)
                {
                    into["active_user"] = active.DeepClone();
                }
            }

            store["masters"] = merged;
            store["version"] = 2;
        }

        return store;
    }

    /// <summary>Upstream's precanonicalize_v1_url then canonicalize_master_url; <see langword="null"/> for a key it would drop.</summary>
    private static string? PrecanonicalV1Key(string key)
    {
        var text = key;
        var cut = text.IndexOfAny(['#', '?']);
        if (cut >= 0)
        {
            text = text[..cut];
        }

        var start = text.IndexOf("://", StringComparison.Ordinal);
        start = start < 0 ? 0 : start + 3;
        var slash = text.IndexOf('/', start);
        var authority = slash < 0 ? text[start..] : text[start..slash];
        var at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            text = text[..start] + authority[(at + 1)..] + (slash < 0 ? string.Empty : text[slash..]);
            authority = authority[(at + 1)..];
        }

        // Python's urlparse refuses a host whose NFKC form holds URL delimiters ("\u2100" becomes "a/c"). These are all the
        // characters whose NFKC form holds one of / ? # @ : (computed with Python's unicodedata; the SDK runs with
        // invariant globalization, so it does not normalize itself).
        if (authority.AsSpan().IndexOfAny(s_nfkcDelimiters) >= 0)
        {
            return null;
        }

        try
        {
            return MasterAddress.Canonicalize(text);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static JsonObject? Master(JsonObject store, string url) => store["masters"]?[url] as JsonObject;

    private static JsonObject EnsureMaster(JsonObject store, string url)
    {
        var masters = store["masters"] as JsonObject ?? [];
        store["masters"] = masters;
        store["version"] = 2;
        if (masters[url] is not JsonObject master)
        {
            master = [];
            masters[url] = master;
        }

        return master;
    }

    private static string? Validate(JsonObject store)
    {
        if (store["version"] is { } version && (version is not JsonValue value || !value.TryGetValue<int>(out var n) || n is < 0 or > 2))
        {
            return $"the version {version.ToJsonString()} is not 0, 1 or 2";
        }

        var masters = store["version"] is null ? new JsonObject { ["-"] = store.DeepClone() } : store["masters"] as JsonObject;
        if (store["version"] is not null && store["masters"] is not null and not JsonObject)
        {
            return "'masters' is not an object";
        }

        foreach (var (key, master) in masters ?? [])
        {
            if (master is not JsonObject m)
            {
                return $"the entry for '{key}' is not an object";
            }

            if (m["tokens"] is { } tokens && (tokens is not JsonObject t || t.Any(p => p.Value is not JsonValue tv || !tv.TryGetValue<string>(out _))))
            {
                return $"the tokens of '{key}' are not a map of strings";
            }

            if (m["active_user"] is { } active && (active is not JsonValue av || !av.TryGetValue<string>(out _)))
            {
                return $"the active user of '{key}' is not a string";
            }
        }

        return null;
    }

    private void OnCorrupt(string movedTo, string problem) =>
        Log.TokenStoreQuarantined(_logger, _file.Path, problem, movedTo);
}

using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Determined.Samples.Master.Limits;

/// <summary>
/// Failed logins in a fixed one-minute window: 10 per client address and user name (one client cannot lock every user
/// out of a shared address), 50 per address whatever the names, and 30 per user name from all addresses together (a
/// guessing run spread over many addresses: the user's logins pause for the rest of the minute, a backoff, not a lockout). Nothing is recorded before a failure. Memory is
/// bounded whatever the peer sends: a user name is kept only as 16 bytes of its SHA-256 (a 60,000-character name costs the
/// same as a short one), and each table holds at most <see cref="MaxKeys"/> entries (expired windows go first, then the
/// oldest; the per-address count still applies to names evicted from the first table).
/// </summary>
public sealed class LoginThrottle(TimeProvider time)
{
    public const int MaxKeys = 10_000;
    public const int FailuresPerUser = 10;
    public const int FailuresPerAddress = 50;
    public const int FailuresPerUserFromAnywhere = 30;
    private static readonly TimeSpan s_window = TimeSpan.FromMinutes(1);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Window> _byUser = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Window> _byAddress = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Window> _byName = new(StringComparer.Ordinal);

    /// <summary>Gets the number of tracked keys (both tables): bounded by twice <see cref="MaxKeys"/>.</summary>
    public int TrackedKeys
    {
        get
        {
            lock (_gate)
            {
                return _byUser.Count + _byAddress.Count + _byName.Count;
            }
        }
    }

    /// <summary>True when this address (for this user, or at all) has used up its failures in the current window.</summary>
    public bool IsLockedOut(IPAddress? address, string username)
    {
        var now = time.GetUtcNow();
        var (user, host) = Keys(address, username);
        lock (_gate)
        {
            return Count(_byUser, user, now) >= FailuresPerUser || Count(_byAddress, host, now) >= FailuresPerAddress || Count(_byName, NameKey(user), now) >= FailuresPerUserFromAnywhere;
        }
    }

    /// <summary>Records a failed login.</summary>
    public void Failed(IPAddress? address, string username)
    {
        var now = time.GetUtcNow();
        var (user, host) = Keys(address, username);
        lock (_gate)
        {
            Add(_byUser, user, now);
            Add(_byAddress, host, now);
            Add(_byName, NameKey(user), now);
        }
    }

    /// <summary>The user name's part of a per-address key: the same name from every address.</summary>
    private static string NameKey(string userKey) => userKey[(userKey.LastIndexOf('/') + 1)..];

    private static (string User, string Address) Keys(IPAddress? address, string username)
    {
        var host = address?.ToString() ?? "unknown";
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(username), hash);
        return (host + "/" + Convert.ToHexString(hash[..16]), host);
    }

    private static int Count(Dictionary<string, Window> table, string key, DateTimeOffset now) =>
        table.TryGetValue(key, out var w) && now - w.Start < s_window ? w.Failures : 0;

    private static void Add(Dictionary<string, Window> table, string key, DateTimeOffset now)
    {
        if (table.TryGetValue(key, out var w) && now - w.Start < s_window)
        {
            table[key] = w with { Failures = w.Failures + 1 };
            return;
        }

        if (!table.ContainsKey(key) && table.Count >= MaxKeys)
        {
            Evict(table, now);
        }

        table[key] = new Window(now, 1);
    }

    /// <summary>Drops every expired window; when none has expired, the oldest tenth (so eviction stays amortized O(1)).</summary>
    private static void Evict(Dictionary<string, Window> table, DateTimeOffset now)
    {
        var expired = table.Where(e => now - e.Value.Start >= s_window).Select(e => e.Key).ToList();
        if (expired.Count == 0)
        {
            expired = table.OrderBy(e => e.Value.Start).Take(Math.Max(1, table.Count / 10)).Select(e => e.Key).ToList();
        }

        foreach (var key in expired)
        {
            table.Remove(key);
        }
    }

    private readonly record struct Window(DateTimeOffset Start, int Failures);
}

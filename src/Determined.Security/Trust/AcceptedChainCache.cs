using System.Security.Cryptography.X509Certificates;

namespace Determined.Security;

/// <summary>
/// The last chain that passed everything, by its DER bytes: a master presents the same chain on every handshake, so the
/// profile runs once per chain (and name) instead of once per connection. An entry is valid only within every element's
/// dates, and only for the name it was accepted for.
/// </summary>
internal sealed class AcceptedChainCache
{
    private volatile Entry? _last;

    /// <summary>Whether <paramref name="chain"/> is the chain last accepted for <paramref name="host"/>, still within its dates.</summary>
    public bool Matches(X509Chain chain, string host, DateTimeOffset now) => _last is { } last && last.Matches(chain, host, now);

    /// <summary>Remembers a chain that passed everything (replacing the previous one).</summary>
    public void Remember(List<X509Certificate2> path, List<CertificateFacts> facts, string host) => _last = new Entry(
        path.Select(c => c.RawData).ToArray(),
        host,
        facts.Max(f => f.NotBefore),
        facts.Min(f => f.NotAfter));

    private sealed class Entry(byte[][] elements, string host, DateTimeOffset from, DateTimeOffset to)
    {
        public bool Matches(X509Chain chain, string name, DateTimeOffset now)
        {
            var presented = chain.ChainElements;
            if (presented.Count < elements.Length || !string.Equals(name, host, StringComparison.Ordinal) || now < from || now >= to)
            {
                return false;
            }

            for (var i = 0; i < elements.Length; i++)
            {
                if (!elements[i].AsSpan().SequenceEqual(presented[i].Certificate.RawDataMemory.Span))
                {
                    return false;
                }
            }

            return true;
        }
    }
}

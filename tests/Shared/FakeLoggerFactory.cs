using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Determined.Testing;

/// <summary>An <see cref="ILoggerFactory"/> whose loggers all write to one <see cref="FakeLogCollector"/>.</summary>
public sealed class FakeLoggerFactory : ILoggerFactory
{
    private readonly FakeLoggerProvider _provider = new();

    public FakeLogCollector Collector => _provider.Collector;

    public IReadOnlyList<FakeLogRecord> Records => _provider.Collector.GetSnapshot();

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public ILogger CreateLogger(string categoryName) => _provider.CreateLogger(categoryName);

    public void Dispose() => _provider.Dispose();
}

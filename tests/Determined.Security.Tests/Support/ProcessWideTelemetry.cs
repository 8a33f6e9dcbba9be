namespace Determined.Security.Tests;

/// <summary>
/// Classes that count the process-wide counters of <see cref="SecurityTelemetry"/> (which carry no per-test tag) run in
/// this collection, alone, so that every count they see is their own.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideTelemetry
{
    public const string Name = "process-wide telemetry";
}

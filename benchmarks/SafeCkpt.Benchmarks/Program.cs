namespace SafeCkpt.Benchmarks; internal static class Program { private static void Main(string[] args) { } }

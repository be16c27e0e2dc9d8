System.Console.WriteLine("testenv");

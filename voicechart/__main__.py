from voicechart.cli import main

main()

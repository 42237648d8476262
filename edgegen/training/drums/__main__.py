from edgegen.training.drums.cli import main

main()

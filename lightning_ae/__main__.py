from lightning_ae.train import main

main()

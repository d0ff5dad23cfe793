"""Studies: accuracy of the reconstructors and models (the KTC2023 tank, the RMA reproduction, nets with an
embedded LP), each printing its tables; the `.sh` drivers run the long ones end to end."""
